#!/usr/bin/env bash
# Prints the machine a benchmark ran on, as a Markdown table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
mariadb=$(mysql_cli -N -e 'SELECT VERSION()' 2>/dev/null || echo "not reachable")
os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}" || echo unknown)
version_of() { [[ -f $TOOLS_DIR/.$1.version ]] && cat "$TOOLS_DIR/.$1.version" || echo "not installed"; }

echo "| | |"
echo "|---|---|"
echo "| CPUs (nproc) | $(nproc) |"
echo "| CPU model | ${cpu:-unknown} |"
echo "| memory | $mem |"
echo "| OS / kernel | $os / $(uname -r) |"
echo "| Go | $(go env GOVERSION) |"
echo "| MariaDB | $mariadb |"
echo "| wrk | $(wrk -v 2>&1 | head -1 | awk '{ print $2 }') (Debian) |"
echo "| vegeta | $(version_of vegeta) |"
echo "| ghz | $(version_of ghz) |"
echo "| load average at start | $(cut -d' ' -f1-3 /proc/loadavg) |"
