#!/usr/bin/env bash
# govulncheck over the whole module. The vulnerability database is built
# from the golang.org/x/vulndb module, which the Go module proxy serves: the
# check then works where the vulnerability service (vuln.go.dev) cannot be
# reached. VULNDB=https://vuln.go.dev uses the service instead;
# VULNDB_VERSION pins the database (default: the newest the proxy has).
# Exit status: 0 when nothing reachable is found, 3 when something is.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${GOVULNCHECK_VERSION:=v1.9.0}"
: "${VULNDB_VERSION:=latest}"

if [[ -z "${VULNDB:-}" ]]; then
  # Outside the module, so the download touches neither go.mod nor go.sum.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  dir=$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "golang.org/x/vulndb@${VULNDB_VERSION}" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [[ -z "$dir" || ! -d "$dir/data/osv" ]]; then
    echo "vuln: could not fetch golang.org/x/vulndb@${VULNDB_VERSION} from the module proxy" >&2
    exit 1
  fi
  # govulncheck reads a folder of OSV files as a database and indexes it itself.
  VULNDB="file://$dir/data/osv"
fi

echo "govulncheck ${GOVULNCHECK_VERSION} with $(go env GOVERSION), database ${VULNDB}"
go run "golang.org/x/vuln/cmd/govulncheck@${GOVULNCHECK_VERSION}" -db "$VULNDB" "${@:-./...}"
