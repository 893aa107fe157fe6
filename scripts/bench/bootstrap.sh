#!/usr/bin/env bash
# Start-up of a read node with a million products, two ways, on the same data
# in one session: the cache built from the change topics
# (`serve --cache-bootstrap=topic`) against the database bootstrap reading
# every product (`serve --cache-prewarm all`).
#
# It seeds BOOT_PRODUCTS x 3 into its own database (binlog on), starts a
# Kafka-protocol broker (scripts/devbroker, in memory), runs `gintoki relay`
# until its initial snapshot of every row is on the broker, stops it, then
# starts each kind of node in turn against that broker and measures the time
# from the process's start to /readyz answering 200, the peak RSS (VmHWM) at
# that moment, the database queries the node sent to get there, and, for the
# topic bootstrap, the change events it read and their rate. Each memory limit
# in BOOT_LIMITS is a variant; BOOT_ROUNDS rounds alternate the order of the
# two modes, and the table shows medians. The database is dropped at the end
# unless BOOT_KEEP_DB=1.
#
# Variables: BOOT_PRODUCTS (1000000) BOOT_ROUNDS (2) BOOT_LIMITS ("0 280":
# --memory-limit-mb per variant, 0 for none) BOOT_DB (gintoki_boot)
# BOOT_KEEP_DB (0) KAFKA_PORT_BOOT (19192) RELAY_PORT_BOOT (19405)
# HTTP_PORT_BOOT (18087) GRPC_PORT_BOOT (19087) BOOT_FLAGS (extra serve flags)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BOOT_PRODUCTS=${BOOT_PRODUCTS:-1000000}
BOOT_ROUNDS=${BOOT_ROUNDS:-2}
BOOT_LIMITS=${BOOT_LIMITS:-"0 280"}
BOOT_KEEP_DB=${BOOT_KEEP_DB:-0}
KAFKA_PORT_BOOT=${KAFKA_PORT_BOOT:-19192}
RELAY_PORT_BOOT=${RELAY_PORT_BOOT:-19405}
HTTP_PORT_BOOT=${HTTP_PORT_BOOT:-18087}
GRPC_PORT_BOOT=${GRPC_PORT_BOOT:-19087}
PRODUCTS=$BOOT_PRODUCTS
DB_NAME=${BOOT_DB:-gintoki_boot}
DB_DSN="mysql://root@tcp(127.0.0.1:3306)/$DB_NAME"
PREFIX=gintoki
BROKERS=127.0.0.1:$KAFKA_PORT_BOOT
STOCK_TOPIC=$PREFIX.$DB_NAME.stock_items
WAREHOUSE_TOPIC=$PREFIX.$DB_NAME.warehouses
RESULTS=$OUT_DIR/bootstrap.results

# The database goes after every process is stopped, however the script ends.
drop_db() {
  stop_started
  if [[ $BOOT_KEEP_DB != 1 ]]; then
    log "dropping database $DB_NAME"
    mysql_cli -e "DROP DATABASE IF EXISTS \`$DB_NAME\`" || true
  fi
}
trap drop_db EXIT

ensure_built
(cd "$ROOT_DIR" && go build -o "$TOOLS_DIR/devbroker" ./scripts/devbroker)
settings=$(mysql_cli -N -e "SELECT CONCAT(@@log_bin + 0, ' ', @@binlog_format, ' ', @@binlog_row_image)") ||
  die "cannot query MariaDB on 127.0.0.1:3306"
[[ $settings == "1 ROW FULL" ]] || die "the relay needs log_bin=1 binlog_format=ROW binlog_row_image=FULL; MariaDB has $settings"
ensure_seeded
rows=$(mysql_cli -N -e "SELECT (SELECT COUNT(*) FROM \`$DB_NAME\`.stock_items) + (SELECT COUNT(*) FROM \`$DB_NAME\`.warehouses)")

for port in "$KAFKA_PORT_BOOT" "$RELAY_PORT_BOOT" "$HTTP_PORT_BOOT" "$GRPC_PORT_BOOT"; do
  require_free_port "$port"
done

# The table topics are created up front, as scripts/pipeline.sh does, so the
# run does not depend on whether the relay creates them; in memory, so every
# run starts from an empty broker and the relay takes a fresh snapshot.
start_bg devbroker "$OUT_DIR/boot-broker.log" "$TOOLS_DIR/devbroker" -port "$KAFKA_PORT_BOOT" \
  -partitions 3 -topics "$STOCK_TOPIC,$WAREHOUSE_TOPIC"
wait_tcp "$KAFKA_PORT_BOOT"

# relay_metric NAME [FILTER]: as metric, on the relay's metrics address.
relay_metric() {
  curl -fsS --max-time 5 "http://127.0.0.1:$RELAY_PORT_BOOT/metrics" |
    awk -v n="$1" -v f="${2:-}" '($1 == n || index($1, n "{") == 1) && index($0, f) { s += $NF } END { printf "%.0f\n", s }'
}

log "relay: snapshot of $rows rows into $BROKERS"
t0=$(date +%s.%N)
start_bg relay "$OUT_DIR/boot-relay.log" "$GINTOKI" relay --db "$DB_DSN" --kafka-brokers "$BROKERS" \
  --cdc-topic-prefix "$PREFIX" --metrics-addr "127.0.0.1:$RELAY_PORT_BOOT" --log-format text
relay_pid=${BG_PIDS[-1]}
# Done when the relay says the snapshot is published (every row acknowledged
# by the broker and the checkpoint saved) and its counter agrees.
published=0
for _ in $(seq 1 1800); do
  kill -0 "$relay_pid" 2>/dev/null || { tail -5 "$OUT_DIR/boot-relay.log" >&2; die "the relay exited"; }
  if grep -q 'relay: snapshot published' "$OUT_DIR/boot-relay.log"; then
    published=$(relay_metric gintoki_relay_events_total 'op="r"' 2>/dev/null || echo 0)
    [[ $published -ge $rows ]] && break
  fi
  sleep 0.5
done
[[ $published -ge $rows ]] || die "the relay published $published of $rows rows within 15 minutes"
snapshot_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
log "relay published $published rows in ${snapshot_s}s; stopping it"
stop_bg "$relay_pid"

# log_time FILE PATTERN: the Unix time of the first log line matching PATTERN.
log_time() {
  local t
  t=$(grep -m1 "$2" "$1" | sed -n 's/^time=\([^ ]*\).*/\1/p')
  [[ -n $t ]] && date -d "$t" +%s.%N
}

# run_node MODE LIMIT ROUND: starts one node, measures its start, stops it,
# and appends "variant mode ready_s hwm_mib rss_mib entries queries events
# window_s" to $RESULTS.
run_node() {
  local mode=$1 limit=$2 round=$3 name="boot-$1-$2-$3" flags=() pid start ready hwm rss entries queries
  local events=0 window=0 from to
  case $mode in
    topic) flags=(--cache-bootstrap topic) ;;
    database) flags=(--cache-bootstrap database --cache-prewarm all) ;;
  esac
  [[ $limit != 0 ]] && flags+=(--memory-limit-mb "$limit")
  log "round $round, limit $limit: serve ${flags[*]}"
  start=$(date +%s.%N)
  # A group of its own each time: no committed offsets from an earlier run.
  start_bg "$name" "$OUT_DIR/$name.log" "$GINTOKI" serve --db "$DB_DSN" --kafka-brokers "$BROKERS" \
    --cdc-topic-prefix "$PREFIX" --kafka-group "bench-$name-$$" \
    --http-addr "127.0.0.1:$HTTP_PORT_BOOT" --grpc-addr "127.0.0.1:$GRPC_PORT_BOOT" \
    --cache-size-mb 1024 --log-format text "${flags[@]}" ${BOOT_FLAGS:-}
  pid=${BG_PIDS[-1]}
  wait_http "http://127.0.0.1:$HTTP_PORT_BOOT/readyz" 900
  ready=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  hwm=$(awk '/^VmHWM:/ { printf "%d", $2 / 1024 }' "/proc/$pid/status")
  rss=$(awk '/^VmRSS:/ { printf "%d", $2 / 1024 }' "/proc/$pid/status")
  entries=$(metric "$HTTP_PORT_BOOT" gintoki_cache_entries)
  queries=$(metric "$HTTP_PORT_BOOT" gintoki_db_query_duration_seconds_count)
  if [[ $mode == topic ]]; then
    # A bootstrap abandoned or refused falls back to the database: that
    # would be a measurement of something else. The verdict is logged by a
    # poll every 100 ms, so it may follow /readyz by that much.
    for _ in $(seq 1 50); do
      grep -q 'cache bootstrap\(ped\)* from the change topics' "$OUT_DIR/$name.log" && break
      sleep 0.1
    done
    if grep -q 'bootstrap from the change topics \(abandoned\|refused\|interrupted\)' "$OUT_DIR/$name.log" ||
      ! grep -q 'cache bootstrapped from the change topics' "$OUT_DIR/$name.log"; then
      die "the node did not bootstrap from the topics; see $OUT_DIR/$name.log"
    fi
    # Every event read from the two table topics, whatever it did.
    events=$(($(metric "$HTTP_PORT_BOOT" gintoki_cdc_events_total "topic=\"$STOCK_TOPIC\"") +
      $(metric "$HTTP_PORT_BOOT" gintoki_cdc_events_total "topic=\"$WAREHOUSE_TOPIC\"")))
    # The window of the bootstrap itself: from the consumer setting out to
    # read the topics from their start to the feed having caught up with
    # them, without the process start.
    from=$(log_time "$OUT_DIR/$name.log" 'reading the table topics from their oldest offsets')
    to=$(log_time "$OUT_DIR/$name.log" 'to=live')
    window=$(awk -v a="$from" -v b="$to" 'BEGIN { printf "%.2f", b - a }')
  fi
  log "ready in ${ready}s, VmHWM ${hwm} MiB, RSS ${rss} MiB, entries $entries, db queries $queries, events $events"
  echo "$limit $mode $ready $hwm $rss $entries $queries $events $window" >>"$RESULTS"
  stop_bg "$pid"
}

: >"$RESULTS"
for limit in $BOOT_LIMITS; do
  for round in $(seq 1 "$BOOT_ROUNDS"); do
    if ((round % 2)); then order="topic database"; else order="database topic"; fi
    for mode in $order; do run_node "$mode" "$limit" "$round"; done
  done
done

# col LIMIT MODE N: the median of column N over the rounds of that variant.
col() { awk -v l="$1" -v m="$2" -v n="$3" '$1 == l && $2 == m { print $n }' "$RESULTS" | median; }
# fmt DECIMALS VALUE
fmt() { awk -v d="$1" -v v="$2" 'BEGIN { if (v == "nan" || v == "") print "n/a"; else printf "%.*f", d, v }'; }

cat <<REPORT

### Bootstrap: $BOOT_PRODUCTS products x $WAREHOUSES warehouses ($rows rows), medians of $BOOT_ROUNDS round(s)

The relay's snapshot of every row onto the broker took ${snapshot_s} s. Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg).

| node | memory limit | start to ready | reading the topics | events read | events/s | peak RSS (VmHWM) | RSS at ready | cache entries | database queries |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
REPORT
for limit in $BOOT_LIMITS; do
  lim=$([[ $limit == 0 ]] && echo none || echo "$limit MiB")
  for mode in topic database; do
    if [[ $mode == topic ]]; then
      node='`--cache-bootstrap=topic`'
      window="$(fmt 2 "$(col "$limit" topic 9)") s"
      events=$(col "$limit" topic 8)
      rate=$(awk -v e="$events" -v w="$(col "$limit" topic 9)" 'BEGIN { if (w > 0) printf "%.0f", e / w; else print "n/a" }')
    else
      node='`--cache-prewarm all` (database)'
      window=- events=- rate=-
    fi
    printf '| %s | %s | %s s | %s | %s | %s | %s MiB | %s MiB | %s | %s |\n' "$node" "$lim" \
      "$(fmt 2 "$(col "$limit" "$mode" 3)")" "$window" "$events" "$rate" \
      "$(fmt 0 "$(col "$limit" "$mode" 4)")" "$(fmt 0 "$(col "$limit" "$mode" 5)")" \
      "$(fmt 0 "$(col "$limit" "$mode" 6)")" "$(fmt 0 "$(col "$limit" "$mode" 7)")"
  done
done
cat <<NOTES

Start to ready: from the process's start to /readyz answering 200 (polled every 0.1 s). Reading the
topics: from the consumer setting out to read them from their oldest offsets to the feed having
caught up (log times); events/s is events read over that. Database queries: the node's own count
(gintoki_db_query_duration_seconds_count) at ready. Every round: $RESULTS
(limit mode ready_s hwm_mib rss_mib entries queries events window_s).
NOTES
