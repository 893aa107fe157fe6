#!/usr/bin/env bash
# Installs the load generators the benchmark scripts use: wrk (and jq, curl)
# from Debian; vegeta and ghz from the Go module proxy into scripts/bench/.bin,
# off the system PATH, so nothing else on the machine changes. Safe to run
# again: a tool already present at the pinned version is left alone.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bindir="$here/.bin"
VEGETA_VERSION=${VEGETA_VERSION:-v12.13.0}
GHZ_VERSION=${GHZ_VERSION:-v0.120.0}

mkdir -p "$bindir"

# apt_install COMMAND PACKAGE: the Debian package, when COMMAND is missing.
apt_install() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2 (Debian package)"
  local sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  if ! apt-cache show "$2" >/dev/null 2>&1; then
    "${sudo_cmd[@]}" apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$2" >/dev/null
}

apt_install wrk wrk
# The scripts read ghz's JSON summaries with jq.
apt_install jq jq
apt_install curl curl

# go_tool NAME MODULE_PATH VERSION: installs when the binary is missing or was
# built from another version (the stamp file records which one).
go_tool() {
  local name=$1 pkg=$2 version=$3 stamp="$bindir/.$1.version"
  if [[ -x "$bindir/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    return 0
  fi
  echo "installing $name $version"
  # go install with a version ignores the project's go.mod and never edits it.
  GOBIN="$bindir" go install "$pkg@$version"
  echo "$version" >"$stamp"
}

go_tool vegeta github.com/tsenart/vegeta/v12 "$VEGETA_VERSION"
go_tool ghz github.com/bojand/ghz/cmd/ghz "$GHZ_VERSION"

echo "wrk:    $(command -v wrk)"
echo "vegeta: $bindir/vegeta $(cat "$bindir/.vegeta.version")"
echo "ghz:    $bindir/ghz $(cat "$bindir/.ghz.version")"
