#!/usr/bin/env bash
# HTTP read throughput with wrk over random products 1..PRODUCTS, against
#   cached  (a) `gintoki serve` with its cache, warmed first,
#   db-only (b) `gintoki serve --cache=false`, every read a MariaDB query,
#   bare    (c) bare-http, a plain net/http server answering the same bytes
#               from memory: the ceiling.
# The three run side by side; each round measures all three, in an order that
# rotates from round to round, and the table shows per-target medians and the
# ratios cached/bare and cached/db-only.
#
# Variables: DUR (10s) ROUNDS (3) CONNS (64) THREADS (1) PRODUCTS (100000)
# WAREHOUSES (3) DB_NAME (gintoki_bench) PAUSE (2, seconds between runs),
# HTTP_PORT_CACHED/_DB/_BARE (18080/18081/18082), GRPC_PORT_CACHED/_DB
# (19080/19081), SERVE_FLAGS (extra flags for both serve processes).
# Output: the Markdown table on stdout, raw rows in out/http.tsv.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

DUR=${DUR:-10s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}
PAUSE=${PAUSE:-2}
HTTP_PORT_CACHED=${HTTP_PORT_CACHED:-18080}
HTTP_PORT_DB=${HTTP_PORT_DB:-18081}
HTTP_PORT_BARE=${HTTP_PORT_BARE:-18082}
GRPC_PORT_CACHED=${GRPC_PORT_CACHED:-19080}
GRPC_PORT_DB=${GRPC_PORT_DB:-19081}

require_tool wrk
require_tool curl
require_tool mysql
ensure_built
ensure_seeded

start_serve http-cached "$HTTP_PORT_CACHED" "$GRPC_PORT_CACHED"
start_serve http-dbonly "$HTTP_PORT_DB" "$GRPC_PORT_DB" --cache=false
require_free_port "$HTTP_PORT_BARE"
start_bg http-bare "$OUT_DIR/http-bare.log" "$TOOLS_DIR/bare-http" \
  --addr "127.0.0.1:$HTTP_PORT_BARE" --products "$PRODUCTS" --warehouses "$WAREHOUSES"
wait_http "http://127.0.0.1:$HTTP_PORT_BARE/cache?product_id=1" 60

declare -A PORT=([cached]=$HTTP_PORT_CACHED [db-only]=$HTTP_PORT_DB [bare]=$HTTP_PORT_BARE)
TARGETS=(cached db-only bare)

# The ceiling only means something if it answers what the service answers.
log "checking that the three targets answer the same bytes"
for id in 1 35586 "$PRODUCTS" $((RANDOM % PRODUCTS + 1)) $((RANDOM % PRODUCTS + 1)); do
  want=$(curl -fsS "http://127.0.0.1:$HTTP_PORT_DB/cache?product_id=$id")
  for t in cached bare; do
    got=$(curl -fsS "http://127.0.0.1:${PORT[$t]}/cache?product_id=$id")
    [[ $got == "$want" ]] || die "product $id: $t answers $got, db-only answers $want"
  done
done

warm_cache "$HTTP_PORT_CACHED"

tsv=$OUT_DIR/http.tsv
printf 'round\ttarget\tok_rps\tp50_ms\tp90_ms\tp99_ms\trequests\tnon_2xx\tsocket_errors\tduration\tconnections\n' >"$tsv"

for ((round = 1; round <= ROUNDS; round++)); do
  for ((k = 0; k < ${#TARGETS[@]}; k++)); do
    t=${TARGETS[$(((k + round - 1) % ${#TARGETS[@]}))]}
    log "round $round/$ROUNDS: wrk -t$THREADS -c$CONNS -d$DUR against $t"
    line=$(wrk -t"$THREADS" -c"$CONNS" -d"$DUR" -s "$BENCH_DIR/random-product.lua" \
      "http://127.0.0.1:${PORT[$t]}" -- "$PRODUCTS" | grep '^BENCH ') ||
      die "wrk against $t printed no result"
    read -r _ rps p50 p90 p99 reqs non2xx sockerr <<<"$line"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
      "$round" "$t" "$rps" "$p50" "$p90" "$p99" "$reqs" "$non2xx" "$sockerr" "$DUR" "$CONNS" >>"$tsv"
    log "  $t: $rps ok req/s, p50 $p50 ms, p99 $p99 ms, non-2xx $non2xx, socket errors $sockerr"
    sleep "$PAUSE"
  done
done

col() { awk -F'\t' -v t="$1" -v c="$2" 'NR > 1 && $2 == t { print $c }' "$tsv" | median; }
sum() { awk -F'\t' -v t="$1" -v c="$2" 'NR > 1 && $2 == t { s += $c } END { print s + 0 }' "$tsv"; }

declare -A RPS
echo
echo "HTTP GET /cache?product_id=<random 1..$PRODUCTS>, wrk -t$THREADS -c$CONNS -d$DUR, median of $ROUNDS rounds"
echo
echo "| target | ok req/s | p50 ms | p90 ms | p99 ms | non-2xx (all rounds) | socket errors |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for t in "${TARGETS[@]}"; do
  RPS[$t]=$(col "$t" 3)
  printf '| %s | %.0f | %.2f | %.2f | %.2f | %s | %s |\n' "$t" "${RPS[$t]}" "$(col "$t" 4)" \
    "$(col "$t" 5)" "$(col "$t" 6)" "$(sum "$t" 8)" "$(sum "$t" 9)"
done
echo
echo "| ratio | value | target |"
echo "|---|---:|---:|"
echo "| cached / bare (a/c) | $(ratio "${RPS[cached]}" "${RPS[bare]}") | >= 0.85 |"
echo "| cached / db-only (a/b) | $(ratio "${RPS[cached]}" "${RPS[db-only]}") | >= 20 |"
echo
hits=$(metric "$HTTP_PORT_CACHED" gintoki_cache_lookups_total 'result="hit"')
misses=$(metric "$HTTP_PORT_CACHED" gintoki_cache_lookups_total 'result="miss"')
echo "cached target, cache lookups since start (warming included): $hits hits, $misses misses"
echo "raw rows: ${tsv#"$ROOT_DIR"/}"
