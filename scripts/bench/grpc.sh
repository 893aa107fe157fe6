#!/usr/bin/env bash
# gRPC read throughput against the cached `gintoki serve` (warmed first) and
# against bare-grpc, a plain grpc.Server returning fixed messages of the same
# size: the ceiling.
#   get:   GetProductInventory, a random product 1..PRODUCTS per call
#   batch: BatchGetProductInventory of 100 ids (drawn at random once per run,
#          so the load generator does not spend its CPU on templating)
# Two load generators, each in its own table:
#   grpc-load  a small closed-loop client on the generated stubs, DUR per
#              measurement; cheap enough per call that the servers, not the
#              client, run out of CPU first
#   ghz        the standard tool; -n calls per measurement (-z would cut the
#              calls in flight at the end and count them as failures). On 2
#              cores it saturates itself well below either server.
# Rounds alternate serve and bare; tables show medians and serve/bare.
#
# Variables: GRPC_CLIENTS ("grpc-load ghz") DUR (10s, grpc-load) GET_CALLS
# (50000, ghz) BATCH_CALLS (5000, ghz) ROUNDS (3) CONC (64 callers) CONNS (4
# connections) BATCH_IDS (100) PAUSE (2) CLIENT_TIMEOUT (120, seconds one
# measurement may take) HTTP_PORT_SERVE (18085) GRPC_PORT_SERVE (19085)
# GRPC_PORT_BARE (19086) SERVE_FLAGS, and those of lib.sh. Raw rows in
# out/grpc.tsv.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

GRPC_CLIENTS=${GRPC_CLIENTS:-"grpc-load ghz"}
DUR=${DUR:-10s}
GET_CALLS=${GET_CALLS:-50000}
BATCH_CALLS=${BATCH_CALLS:-5000}
ROUNDS=${ROUNDS:-3}
CONC=${CONC:-64}
CONNS=${CONNS:-4}
BATCH_IDS=${BATCH_IDS:-100}
PAUSE=${PAUSE:-2}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-120}
HTTP_PORT_SERVE=${HTTP_PORT_SERVE:-18085}
GRPC_PORT_SERVE=${GRPC_PORT_SERVE:-19085}
GRPC_PORT_BARE=${GRPC_PORT_BARE:-19086}
PROTO=$ROOT_DIR/proto/gintoki/inventory/v1/inventory.proto
SERVICE=gintoki.inventory.v1.InventoryService

for c in $GRPC_CLIENTS; do
  case $c in
    ghz) require_tool ghz; require_tool jq ;;
    grpc-load) ;;
    *) die "unknown client $c in GRPC_CLIENTS (grpc-load, ghz)" ;;
  esac
done
require_tool curl
require_tool mysql
ensure_built
(cd "$ROOT_DIR" && go build -o "$TOOLS_DIR/grpc-load" ./scripts/bench/grpc-load)
ensure_seeded

start_serve grpc-serve "$HTTP_PORT_SERVE" "$GRPC_PORT_SERVE"
require_free_port "$GRPC_PORT_BARE"
start_bg grpc-bare "$OUT_DIR/grpc-bare.log" "$TOOLS_DIR/bare-grpc" \
  --addr "127.0.0.1:$GRPC_PORT_BARE" --warehouses "$WAREHOUSES" --batch-items "$BATCH_IDS"
wait_tcp "$GRPC_PORT_BARE"
warm_cache "$HTTP_PORT_SERVE"

declare -A PORT=([serve]=$GRPC_PORT_SERVE [bare]=$GRPC_PORT_BARE)
declare -A METHOD=([get]=GetProductInventory [batch]=BatchGetProductInventory)
declare -A CALLS=([get]=$GET_CALLS [batch]=$BATCH_CALLS)
batch_ids=$(awk -v n="$BATCH_IDS" -v p="$PRODUCTS" 'BEGIN { srand(); for (i = 0; i < n; i++) printf "%s%d", (i ? "," : ""), int(rand() * p) + 1 }')
declare -A GHZ_DATA=(
  # ghz only expands templates inside JSON strings; proto JSON reads an
  # int64 from a string as well.
  [get]="{\"product_id\":\"{{randomInt 1 $((PRODUCTS + 1))}}\"}"
  [batch]="{\"product_ids\":[$batch_ids]}"
)

tsv=$OUT_DIR/grpc.tsv
printf 'round\tclient\tmethod\ttarget\tok_rps\tp50_ms\tp90_ms\tp99_ms\tcalls\tnot_ok\tconcurrency\tconnections\n' >"$tsv"

# measure CLIENT METHOD TARGET: prints "ok_rps p50 p90 p99 calls not_ok".
measure() {
  local client=$1 m=$2 t=$3 out
  case $client in
    grpc-load)
      out=$(timeout "$CLIENT_TIMEOUT" "$TOOLS_DIR/grpc-load" --addr "127.0.0.1:${PORT[$t]}" --method "$m" \
        --duration "$DUR" --concurrency "$CONC" --connections "$CONNS" --products "$PRODUCTS" \
        --batch-ids "$BATCH_IDS") || return 1
      awk '$1 == "BENCH" { print $2, $3, $4, $5, $6, $7 }' <<<"$out"
      ;;
    ghz)
      out=$(timeout "$CLIENT_TIMEOUT" ghz --insecure --proto "$PROTO" --call "$SERVICE.${METHOD[$m]}" \
        -d "${GHZ_DATA[$m]}" -n "${CALLS[$m]}" -c "$CONC" --connections "$CONNS" --format json \
        "127.0.0.1:${PORT[$t]}") || return 1
      jq -r 'def pct(p): ((.latencyDistribution // []) | map(select(.percentage == p)) | (.[0].latency // 0)) / 1e6;
        (.statusCodeDistribution.OK // 0) as $ok
        | "\($ok / (.total / 1e9)) \(pct(50)) \(pct(90)) \(pct(99)) \(.count) \(.count - $ok)"' <<<"$out"
      ;;
  esac
}

for client in $GRPC_CLIENTS; do
  for ((round = 1; round <= ROUNDS; round++)); do
    for m in get batch; do
      if ((round % 2)); then order=(serve bare); else order=(bare serve); fi
      for t in "${order[@]}"; do
        log "round $round/$ROUNDS: $client ${METHOD[$m]} against $t"
        res=$(measure "$client" "$m" "$t") || die "$client ${METHOD[$m]} against $t failed or took longer than ${CLIENT_TIMEOUT}s"
        read -r rps p50 p90 p99 calls notok <<<"$res"
        printf '%s\t%s\t%s\t%s\t%.1f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%s\t%s\n' "$round" "$client" "$m" "$t" \
          "$rps" "$p50" "$p90" "$p99" "$calls" "$notok" "$CONC" "$CONNS" >>"$tsv"
        log "  $(printf '%.0f' "$rps") ok calls/s, p50 $p50 ms, p99 $p99 ms, not OK $notok"
        sleep "$PAUSE"
      done
    done
  done
done

col() { awk -F'\t' -v k="$1" -v m="$2" -v t="$3" -v c="$4" 'NR > 1 && $2 == k && $3 == m && $4 == t { print $c }' "$tsv" | median; }
sum() { awk -F'\t' -v k="$1" -v m="$2" -v t="$3" -v c="$4" 'NR > 1 && $2 == k && $3 == m && $4 == t { s += $c } END { print s + 0 }' "$tsv"; }

for client in $GRPC_CLIENTS; do
  echo
  if [[ $client == ghz ]]; then
    echo "gRPC with ghz -c $CONC --connections $CONNS, -n $GET_CALLS (Get) / -n $BATCH_CALLS (Batch of $BATCH_IDS ids), median of $ROUNDS rounds"
  else
    echo "gRPC with grpc-load --concurrency $CONC --connections $CONNS --duration $DUR (Batch of $BATCH_IDS ids), median of $ROUNDS rounds"
  fi
  echo
  echo "| method | target | ok calls/s | p50 ms | p90 ms | p99 ms | not OK (all rounds) |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for m in get batch; do
    for t in serve bare; do
      printf '| %s | %s | %.0f | %.2f | %.2f | %.2f | %s |\n' "${METHOD[$m]}" "$t" "$(col "$client" "$m" "$t" 5)" \
        "$(col "$client" "$m" "$t" 6)" "$(col "$client" "$m" "$t" 7)" "$(col "$client" "$m" "$t" 8)" "$(sum "$client" "$m" "$t" 10)"
    done
  done
  echo
  echo "| ratio ($client) | value | target |"
  echo "|---|---:|---:|"
  echo "| GetProductInventory serve / bare | $(ratio "$(col "$client" get serve 5)" "$(col "$client" get bare 5)") | >= 0.85 |"
  echo "| BatchGetProductInventory serve / bare | $(ratio "$(col "$client" batch serve 5)" "$(col "$client" batch bare 5)") | — |"
done
echo
echo "raw rows: ${tsv#"$ROOT_DIR"/}"
