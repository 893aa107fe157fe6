#!/usr/bin/env bash
# staticcheck over the whole module (every test file included), at a pinned
# version run from the module proxy: `go run pkg@version` leaves go.mod and
# go.sum alone. Its configuration is staticcheck.conf at the root.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${STATICCHECK_VERSION:=v0.8.2}"
echo "staticcheck ${STATICCHECK_VERSION} with $(go env GOVERSION)"
go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" -tests "${@:-./...}"
