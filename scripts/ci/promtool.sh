#!/usr/bin/env bash
# Prints the path of a promtool, installing one under bin/tools/ when none is
# on PATH. On Debian it takes the binary out of the `prometheus` package
# (apt-get download + dpkg-deb -x: one 19 MB download, nothing installed
# system-wide, no Prometheus service started); elsewhere it asks for one.
set -euo pipefail
cd "$(dirname "$0")/../.."

if command -v promtool >/dev/null; then
  command -v promtool
  exit 0
fi
dest=bin/tools/promtool
if [[ -x $dest ]]; then
  echo "$dest"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "promtool not found: install Prometheus (it ships promtool) and put promtool on PATH" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download writes to the current directory; as root it warns that
# the _apt user cannot write there, which is harmless.
if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
  apt-get update -qq >&2
  (cd "$work" && apt-get download prometheus >/dev/null 2>&1)
fi
dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
mkdir -p "$(dirname "$dest")"
install -m 0755 "$work/root/usr/bin/promtool" "$dest"
"$dest" --version >&2
echo "$dest"
