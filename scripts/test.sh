#!/usr/bin/env bash
# make test: vet is done by make; this runs every test with the race
# detector and ends with one line of counts. The MariaDB integration tests
# need GINTOKI_TEST_MYSQL_DSN; when it is unset and a MariaDB answers on
# 127.0.0.1:3306 as root without a password, that one is used.
#   TESTFORMAT  gotestsum output format (default pkgname; CI uses standard-verbose)
#   TESTFLAGS   more flags for go test
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}

if [[ -z "${GINTOKI_TEST_MYSQL_DSN:-}" ]] && command -v mysql >/dev/null &&
  mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  export GINTOKI_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/test'
  echo "using the MariaDB on 127.0.0.1:3306 for the integration tests (GINTOKI_TEST_MYSQL_DSN=$GINTOKI_TEST_MYSQL_DSN)"
fi

json=$(mktemp)
trap 'rm -f "$json"' EXIT
# shellcheck disable=SC2086 # TESTFLAGS is a list of flags
$GO tool gotestsum --format "${TESTFORMAT:-pkgname}" --jsonfile "$json" -- \
  -race -count=1 -timeout 15m ${TESTFLAGS:-} ./...
status=$?

count() { grep -c "\"Action\":\"$1\".*\"Test\":" "$json" || true; }
passed=$(count pass) failed=$(count fail) skipped=$(count skip)
hint=""
if [[ $skipped -gt 0 ]]; then
  hint=" — skipped tests need MariaDB: start it (bash scripts/ci/mariadb.sh) or set GINTOKI_TEST_MYSQL_DSN='user:pass@tcp(host:3306)/db'"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped$hint"
exit $status
