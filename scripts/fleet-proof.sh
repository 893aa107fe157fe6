#!/usr/bin/env bash
# The fleet proof under load (app/fleetproof): MariaDB (binlog on) -> gintoki
# relay -> a Kafka-protocol broker -> two gintoki serve read nodes -> gintoki
# gateway, all real processes on loopback sockets, with a steady request rate
# through the gateway (single products and batches) and writers changing
# MariaDB, while
#   1. every read node is restarted in turn (SIGTERM, start, ready, next),
#   2. the broker is away for 20 s (--max-staleness 5s on the nodes),
#   3. the relay is frozen with SIGSTOP (the broker up), then let go,
#   4. a read node is SIGKILLed and left down.
# It prints each scenario's numbers (requests, failures, success ratio,
# answers compared with the database) and exits non-zero when a promise was
# broken, printing the test's whole output.
#
# Settings (environment): GINTOKI_TEST_MYSQL_DSN (default
# root@tcp(127.0.0.1:3306)/test; the server needs the binlog on, ROW and FULL:
# scripts/ci/mariadb.sh starts MariaDB so), RATE (requests a second, default
# 200), RACE=1 to add the race detector, FLEETFLAGS (more go test flags).
set -euo pipefail
cd "$(dirname "$0")/.."

export GINTOKI_TEST_MYSQL_DSN=${GINTOKI_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test}
export GINTOKI_FLEET_RATE=${RATE:-200}
flags=(-count=1 -timeout 15m -run '^TestFleetProof$' -v)
if [[ "${RACE:-0}" == 1 ]]; then flags+=(-race); fi
# shellcheck disable=SC2206 # FLEETFLAGS is a list of flags
flags+=(${FLEETFLAGS:-})

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "fleet proof: go test ${flags[*]} ./app/fleetproof/ (MariaDB ${GINTOKI_TEST_MYSQL_DSN%%/*})"
status=0
go test "${flags[@]}" ./app/fleetproof/ >"$log" 2>&1 || status=$?
sed -nE 's/^ *[a-z_]+\.go:[0-9]+: fleet proof: /  /p' "$log"
if [[ $status -ne 0 ]]; then
  echo "fleet proof FAILED (exit $status); the test's output:" >&2
  cat "$log" >&2
  exit "$status"
fi
grep -E '^(ok|--- PASS)' "$log" || true
