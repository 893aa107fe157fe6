#!/usr/bin/env bash
# The original project's own measurement, repeated:
#   echo "GET http://127.0.0.1:PORT/cache?product_id=35586" | vegeta attack -rate=R -duration=60s | vegeta report
# at 1,000 req/s against `serve --cache=false` (the original: ~480 req/s from
# the database, 70% success, 30 s tails) and at 10,000 req/s against the
# cached `serve` (the original: p99 9.8 ms). Prints vegeta's reports.
#
# Variables: VEGETA_DUR (60s) DB_RATE (1000) CACHED_RATE (10000)
# PRODUCT_ID (35586) HTTP_PORT_CACHED/_DB (18083/18084) GRPC_PORT_CACHED/_DB
# (19083/19084) SERVE_FLAGS, and those of lib.sh. Reports also go to
# out/vegeta-db-only.txt and out/vegeta-cached.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VEGETA_DUR=${VEGETA_DUR:-60s}
DB_RATE=${DB_RATE:-1000}
CACHED_RATE=${CACHED_RATE:-10000}
PRODUCT_ID=${PRODUCT_ID:-35586}
HTTP_PORT_CACHED=${HTTP_PORT_CACHED:-18083}
HTTP_PORT_DB=${HTTP_PORT_DB:-18084}
GRPC_PORT_CACHED=${GRPC_PORT_CACHED:-19083}
GRPC_PORT_DB=${GRPC_PORT_DB:-19084}

require_tool vegeta
require_tool curl
require_tool mysql
ensure_built
ensure_seeded

start_serve vegeta-dbonly "$HTTP_PORT_DB" "$GRPC_PORT_DB" --cache=false
start_serve vegeta-cached "$HTTP_PORT_CACHED" "$GRPC_PORT_CACHED"

# attack NAME PORT RATE
attack() {
  local name=$1 port=$2 rate=$3
  local target="GET http://127.0.0.1:$port/cache?product_id=$PRODUCT_ID"
  echo
  echo "### $name: echo \"GET http://127.0.0.1:PORT/cache?product_id=$PRODUCT_ID\" | vegeta attack -rate=$rate -duration=$VEGETA_DUR | vegeta report"
  echo
  echo '```'
  echo "$target" | vegeta attack -rate="$rate" -duration="$VEGETA_DUR" | vegeta report | tee "$OUT_DIR/vegeta-$name.txt"
  echo '```'
}

log "vegeta at $DB_RATE req/s for $VEGETA_DUR against db-only"
attack db-only "$HTTP_PORT_DB" "$DB_RATE"
log "vegeta at $CACHED_RATE req/s for $VEGETA_DUR against cached"
attack cached "$HTTP_PORT_CACHED" "$CACHED_RATE"
