#!/usr/bin/env bash
# Latency against request rate: vegeta at fixed rates over random products
# 1..PRODUCTS against the cached `serve` (warmed), `serve --cache=false` and
# bare-http, one short attack per (target, rate). Writes out/sweep.tsv, which
# plot/ turns into a PNG (run-all.sh does both).
#
# vegeta itself tops out near 11k req/s on a 2-core machine: above that the
# achieved column falls short of the requested rate, and the plot marks it.
#
# Variables: SWEEP_DUR (5s) RATES_FAST ("1000 2000 5000 10000 20000", cached
# and bare) RATES_DB ("250 500 1000 2000 5000", db-only) TARGET_LINES (100000
# random requests vegeta cycles through) PAUSE (1) HTTP_PORT_CACHED/_DB/_BARE
# (18087/18088/18089) GRPC_PORT_CACHED/_DB (19087/19088) SERVE_FLAGS, and
# those of lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SWEEP_DUR=${SWEEP_DUR:-5s}
RATES_FAST=${RATES_FAST:-"1000 2000 5000 10000 20000"}
RATES_DB=${RATES_DB:-"250 500 1000 2000 5000"}
TARGET_LINES=${TARGET_LINES:-100000}
PAUSE=${PAUSE:-1}
HTTP_PORT_CACHED=${HTTP_PORT_CACHED:-18087}
HTTP_PORT_DB=${HTTP_PORT_DB:-18088}
HTTP_PORT_BARE=${HTTP_PORT_BARE:-18089}
GRPC_PORT_CACHED=${GRPC_PORT_CACHED:-19087}
GRPC_PORT_DB=${GRPC_PORT_DB:-19088}

require_tool vegeta
require_tool jq
require_tool curl
require_tool mysql
ensure_built
ensure_seeded

start_serve sweep-cached "$HTTP_PORT_CACHED" "$GRPC_PORT_CACHED"
start_serve sweep-dbonly "$HTTP_PORT_DB" "$GRPC_PORT_DB" --cache=false
require_free_port "$HTTP_PORT_BARE"
start_bg sweep-bare "$OUT_DIR/sweep-bare.log" "$TOOLS_DIR/bare-http" \
  --addr "127.0.0.1:$HTTP_PORT_BARE" --products "$PRODUCTS" --warehouses "$WAREHOUSES"
wait_http "http://127.0.0.1:$HTTP_PORT_BARE/cache?product_id=1" 60
warm_cache "$HTTP_PORT_CACHED"

declare -A PORT=([cached]=$HTTP_PORT_CACHED [db-only]=$HTTP_PORT_DB [bare]=$HTTP_PORT_BARE)
declare -A RATES=([cached]=$RATES_FAST [db-only]=$RATES_DB [bare]=$RATES_FAST)

# One list of random ids for every target, so they all answer the same reads.
ids=$OUT_DIR/sweep-ids.txt
awk -v n="$TARGET_LINES" -v p="$PRODUCTS" 'BEGIN { srand(); for (i = 0; i < n; i++) print int(rand() * p) + 1 }' >"$ids"

tsv=$OUT_DIR/sweep.tsv
printf 'target\trate\tachieved_rps\tsuccess\tp50_ms\tp90_ms\tp99_ms\tmax_ms\trequests\tduration\n' >"$tsv"

for t in cached db-only bare; do
  sed "s|^|GET http://127.0.0.1:${PORT[$t]}/cache?product_id=|" "$ids" >"$OUT_DIR/sweep-targets-$t.txt"
done
# Rate by rate, every target at that rate before the next rate, so a burst
# of outside load on a shared machine spoils one point of each target rather
# than a whole curve.
all_rates=$(printf '%s\n' $RATES_FAST $RATES_DB | sort -n -u)
for rate in $all_rates; do
  for t in cached db-only bare; do
    [[ " ${RATES[$t]} " == *" $rate "* ]] || continue
    log "vegeta -rate=$rate -duration=$SWEEP_DUR against $t"
    vegeta attack -targets="$OUT_DIR/sweep-targets-$t.txt" -rate="$rate" -duration="$SWEEP_DUR" |
      vegeta report -type=json |
      jq -r --arg t "$t" --arg r "$rate" --arg d "$SWEEP_DUR" '
        def ms(x): (x / 1e6 | . * 1000 | round / 1000);
        [$t, $r, (.throughput | . * 10 | round / 10), (.success | . * 10000 | round / 10000),
         ms(.latencies["50th"]), ms(.latencies["90th"]), ms(.latencies["99th"]), ms(.latencies.max),
         .requests, $d] | @tsv' >>"$tsv"
    tail -1 "$tsv" | awk -F'\t' '{ printf "  %s at %s req/s: achieved %s, success %s, p50 %s ms, p99 %s ms\n", $1, $2, $3, $4, $5, $7 }' >&2
    sleep "$PAUSE"
  done
done

echo
echo "Latency against rate, vegeta -duration=$SWEEP_DUR per point, random products 1..$PRODUCTS"
echo
echo "| target | rate | achieved req/s | success | p50 ms | p90 ms | p99 ms | max ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
# Grouped by target, rates ascending.
awk -F'\t' 'NR > 1 { printf "| %s | %s | %.0f | %.2f%% | %.2f | %.2f | %.2f | %.1f |\n", $1, $2, $3, $4 * 100, $5, $6, $7, $8 }' "$tsv" |
  sort -t'|' -k2,2 -k3,3n
echo
echo "raw rows: ${tsv#"$ROOT_DIR"/}"
