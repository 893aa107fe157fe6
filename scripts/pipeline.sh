#!/usr/bin/env bash
# The whole change pipeline on one machine, no JVM:
#   MariaDB (binlog on) -> gintoki relay -> Kafka protocol broker -> gintoki serve
# It builds the binary, prepares a database and a least-privilege replication
# user, starts a local broker (kfake), the relay and a read node, and prints
# how to change a row and watch the read node see it. Ctrl-C stops all three.
#
# Settings (environment): DB_NAME, PREFIX, KAFKA_PORT, HTTP_ADDR, GRPC_ADDR,
# RELAY_METRICS_ADDR, PRODUCTS, WAREHOUSES, DATA_DIR. MariaDB must answer on
# 127.0.0.1:3306 as root without a password (scripts/ci/mariadb.sh sets that up,
# with the binlog on; this script only checks).
set -euo pipefail
cd "$(dirname "$0")/.."

DB_NAME=${DB_NAME:-gintoki_pipeline}
PREFIX=${PREFIX:-gintoki}
KAFKA_PORT=${KAFKA_PORT:-9092}
HTTP_ADDR=${HTTP_ADDR:-127.0.0.1:8080}
GRPC_ADDR=${GRPC_ADDR:-127.0.0.1:9090}
RELAY_METRICS_ADDR=${RELAY_METRICS_ADDR:-127.0.0.1:9404}
PRODUCTS=${PRODUCTS:-1000}
WAREHOUSES=${WAREHOUSES:-3}
DATA_DIR=${DATA_DIR:-data/pipeline}
RELAY_USER=gintoki_relay
RELAY_PASSWORD=${RELAY_PASSWORD:-relay-local-only}
BIN=bin/gintoki
# GINTOKI runs the commands; it defaults to the binary built here.
GINTOKI=${GINTOKI:-$BIN}
BROKER=bin/devbroker

ROOT_DSN="mysql://root@tcp(127.0.0.1:3306)/${DB_NAME}"
RELAY_DSN="mysql://${RELAY_USER}:${RELAY_PASSWORD}@tcp(127.0.0.1:3306)/${DB_NAME}"
BROKERS="127.0.0.1:${KAFKA_PORT}"
STOCK_TOPIC="${PREFIX}.${DB_NAME}.stock_items"
WAREHOUSE_TOPIC="${PREFIX}.${DB_NAME}.warehouses"

sql() { mysql --protocol=tcp -h127.0.0.1 -uroot "$@"; }
say() { printf '\n== %s\n' "$*"; }

# wait_http URL NAME PID LOG: until URL answers 200, or the process dies.
wait_http() {
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "$3" 2>/dev/null; then
      echo "$2 exited; its log ($4):" >&2; tail -n 30 "$4" >&2; exit 1
    fi
    sleep 0.5
  done
  echo "$2 not ready after 60s; see $4" >&2; exit 1
}

pids=()
stop_all() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

say "MariaDB with the binlog on (ROW, FULL images)"
# Checked, never fixed here: changing the settings means restarting the
# server under whoever else uses it.
if ! settings=$(sql -N -e "SELECT CONCAT(@@log_bin + 0, ' ', @@binlog_format, ' ', @@binlog_row_image)" 2>&1); then
  echo "cannot query MariaDB on 127.0.0.1:3306 as root: $settings" >&2
  exit 1
fi
if [[ "$settings" != "1 ROW FULL" ]]; then
  echo "MariaDB runs with log_bin binlog_format binlog_row_image = $settings; the relay needs 1 ROW FULL." >&2
  echo "Set server_id, log_bin, binlog_format=ROW and binlog_row_image=FULL and restart it (scripts/ci/mariadb.sh does that)." >&2
  exit 1
fi
# Not required: without it an ALTER of a captured table made while the relay
# is down stops the relay (it warns at start too).
metadata=$(sql -N -e "SELECT @@global.binlog_row_metadata" 2>/dev/null || echo "(none: MariaDB before 10.5)")
if [[ "$metadata" != "FULL" ]]; then
  echo "note: binlog_row_metadata is $metadata; set it to FULL (SET GLOBAL binlog_row_metadata=FULL, and --binlog-row-metadata=FULL" >&2
  echo "      at server start; scripts/ci/mariadb.sh does) so the relay reads through an ALTER made while it is down." >&2
fi

say "build"
mkdir -p bin "$DATA_DIR"
go build -o "$BIN" ./app/cmd/gintoki
go build -o "$BROKER" ./scripts/devbroker

say "database ${DB_NAME} and replication user ${RELAY_USER}"
sql -e "CREATE DATABASE IF NOT EXISTS \`${DB_NAME}\`"
# The relay needs no write privilege anywhere: replication, binlog
# monitoring, and SELECT on the captured tables.
sql -e "CREATE USER IF NOT EXISTS '${RELAY_USER}'@'127.0.0.1' IDENTIFIED BY '${RELAY_PASSWORD}';
        GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO '${RELAY_USER}'@'127.0.0.1';
        GRANT SELECT ON \`${DB_NAME}\`.* TO '${RELAY_USER}'@'127.0.0.1';"
"$GINTOKI" migrate --db "$ROOT_DSN" --log-format text
rows=$(sql -N -e "SELECT COUNT(*) FROM \`${DB_NAME}\`.stock_items")
if [[ "$rows" == "0" ]]; then
  "$GINTOKI" seed --db "$ROOT_DSN" --products "$PRODUCTS" --warehouses "$WAREHOUSES" --log-format text
fi

say "Kafka protocol broker on ${BROKERS}"
# No topics made here: the relay creates its table topics compacted (3
# partitions), as read nodes starting from them need.
"$BROKER" -port "$KAFKA_PORT" -partitions 3 \
  -data-dir "$DATA_DIR/kafka" >"$DATA_DIR/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 40); do (exec 3<>"/dev/tcp/127.0.0.1/${KAFKA_PORT}") 2>/dev/null && break; sleep 0.25; done

say "relay: binlog -> ${STOCK_TOPIC}, ${WAREHOUSE_TOPIC}"
# The first start publishes every existing row (op "r"), then streams; the
# checkpoint lives in the broker, so a restart resumes where it stopped.
"$GINTOKI" relay --db "$RELAY_DSN" --kafka-brokers "$BROKERS" --cdc-topic-prefix "$PREFIX" \
  --metrics-addr "$RELAY_METRICS_ADDR" --log-format text >"$DATA_DIR/relay.log" 2>&1 &
relay_pid=$!
pids+=("$relay_pid")
wait_http "http://${RELAY_METRICS_ADDR}/readyz" relay "$relay_pid" "$DATA_DIR/relay.log"

say "read node: gintoki serve"
# The relay sends a heartbeat a second: stop it (kill "$relay_pid") and the
# node bypasses its cache within --max-staleness.
"$GINTOKI" serve --db "$ROOT_DSN" --kafka-brokers "$BROKERS" --cdc-topic-prefix "$PREFIX" \
  --kafka-group "gintoki-pipeline-$$" --http-addr "$HTTP_ADDR" --grpc-addr "$GRPC_ADDR" \
  --source-heartbeats required --log-format text >"$DATA_DIR/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
wait_http "http://${HTTP_ADDR}/readyz" serve "$serve_pid" "$DATA_DIR/serve.log"

cat <<EOF

The pipeline is up (logs in ${DATA_DIR}/).
  read node     http://${HTTP_ADDR}/v1/products/42/inventory
  relay         http://${RELAY_METRICS_ADDR}/metrics   (gintoki_relay_*)   /readyz

Change a row and watch the read node follow:
  curl -s http://${HTTP_ADDR}/v1/products/42/inventory; echo
  mysql -h127.0.0.1 -uroot ${DB_NAME} -e "UPDATE stock_items SET qty_salable = qty_salable + 5, version = version + 1, updated_at = NOW(6) WHERE product_id = 42 AND warehouse_id = 1"
  curl -s http://${HTTP_ADDR}/v1/products/42/inventory; echo

  watch -n 0.5 'curl -s http://${HTTP_ADDR}/v1/products/42/inventory'   # in another terminal

The events themselves (Debezium JSON; a delete is followed by a null tombstone):
  kcat -b ${BROKERS} -C -t ${STOCK_TOPIC} -o -5 -e -f 'partition %p offset %o key %k\n%s\n\n'

Stop with Ctrl-C.
EOF
wait -n "${pids[@]}" || true
echo "a process of the pipeline exited; stopping the others (logs in ${DATA_DIR}/)" >&2
