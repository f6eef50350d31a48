#!/usr/bin/env bash
# Runs the same MQTT loads against fleetguard and Debian's mosquitto, one
# broker after the other, and prints a Markdown table (also appended to the
# file given as the first argument, e.g. bench/RESULTS.md).
#
#   bench/compare.sh [results.md]
#
# Loads, all driven by `fleetguard bench` (see bench/README.md):
#   (a) fan-in: 4 publishers -> 1 subscriber, 100-byte payloads, QoS 0, flat out
#   (b) the same with QoS 1
#   (c) latency: both brokers at a fixed total rate, half of mosquitto's (a);
#       mosquitto once as configured and once with set_tcp_nodelay true
#   (d) idle connections: CONNS connections, broker RSS before/after, KB each
#
# Environment (defaults in brackets):
#   FLEETGUARD [./build/fleetguard]  binary under test; also provides `bench`
#   MOSQUITTO [/usr/sbin/mosquitto]  AWS [/usr/bin/aws] (creates the allow-all policy the
#                                    plaintext load clients are authorised by)
#   BENCH [$FLEETGUARD]              binary whose `bench` subcommand drives the load
#   DURATION [10] WARMUP [2]         seconds per load run (a)-(c)
#   CONNS [10000]                    idle connections in (d); at most ~19,900,
#                                    the brokers' open-file limit is 20,000
#   PER_PROC [9000]                  connections per bench process in (d); each
#                                    process connects from its own 127.0.0.x
#   FG_ARGS []  MOSQ_CONF_EXTRA []   extra `serve` arguments / mosquitto.conf lines
# Both brokers run with the same open-file limit (ulimit -n 20000) and the
# same machine; each load starts on a freshly started broker.
set -euo pipefail

FLEETGUARD=${FLEETGUARD:-./build/fleetguard}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
AWS=${AWS:-/usr/bin/aws}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-10000}
PER_PROC=${PER_PROC:-9000}
FG_ARGS=${FG_ARGS:-}
MOSQ_CONF_EXTRA=${MOSQ_CONF_EXTRA:-}
OUT_FILE=${1:-}
FD_LIMIT=20000

# die, log, free_port, wait_port, stop_broker, rss_kb, cpu_s, json, fmt_rate,
# hold_idle_connections, idle_cell.
# shellcheck source=bench/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"

prepare_run fg-compare

# start_broker fleetguard|mosquitto [mosquitto.conf line]: starts a fresh
# broker, sets PORT and BROKER_PID.
start_broker() {
  local name=$1 run_extra=${2:-} dir="$WORK/$1-$RANDOM"
  mkdir -p "$dir"
  PORT=$(free_port)
  if [ "$name" = fleetguard ]; then
    # shellcheck disable=SC2086  # FG_ARGS is a list of words on purpose
    "$FLEETGUARD" serve --mqtt-port "$PORT" --bind 127.0.0.1 --data-dir "$dir/data" --mqtts-port 0 \
      --api-port 0 --anonymous-policy "$ALLOW_ALL_POLICY" $FG_ARGS >"$dir/broker.log" 2>&1 &
  else
    {
      echo "listener $PORT 127.0.0.1"
      echo "allow_anonymous true"
      echo "max_queued_messages 100000"
      echo "max_connections -1"
      [ -n "$run_extra" ] && echo "$run_extra"
      echo "persistence false"
      echo "log_dest stderr"
      echo "log_type error"
      echo "log_type warning"
      [ -n "$MOSQ_CONF_EXTRA" ] && printf '%s\n' "$MOSQ_CONF_EXTRA"
    } >"$dir/mosquitto.conf"
    "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/broker.log" 2>&1 &
  fi
  BROKER_PID=$!
  BROKER_LOG="$dir/broker.log"
  wait_port "$PORT"
  kill -0 "$BROKER_PID" 2>/dev/null || die "$name exited at start: $(cat "$dir/broker.log")"
  # Plaintext load clients are authorised by the anonymous policy (allow all).
  if [ "$name" = fleetguard ]; then fg_create_allow_all "$dir/data" "$(fg_api_port "$dir/broker.log")"; fi
}

# run_load NAME LABEL ARGS...: one bench load against the running broker;
# leaves its JSON in $WORK/NAME-LABEL.json and, in LAST_CPU, the broker's CPU
# use over the whole bench run (warm-up and drain included) in cores.
run_load() {
  local name=$1 label=$2
  shift 2
  local out="$WORK/$name-$label.json" before after start end rc=0
  before=$(cpu_s)
  start=$(date +%s.%N)
  "$BENCH" bench --port "$PORT" --duration "$DURATION" --warmup "$WARMUP" --json "$@" >"$out" \
    2>"$out.err" || rc=$?
  end=$(date +%s.%N)
  after=$(cpu_s)
  LAST_CPU=$(python3 -c "print(f'{($after - $before) / ($end - $start):.2f}')")
  if [ "$rc" -ne 0 ]; then
    log "$name $label failed (exit $rc): $(cat "$out.err")"
    log "$name log: $(tail -n 5 "$BROKER_LOG")"
    return 1
  fi
}

# --- (a) and (b): fan-in throughput ----------------------------------------
declare -A CELL
MOSQ_QOS0_RATE=""
for broker in mosquitto fleetguard; do
  for qos in 0 1; do
    label="fanin-qos$qos"
    log "$broker: fan-in QoS $qos"
    start_broker "$broker"
    if run_load "$broker" "$label" --publishers 4 --subscribers 1 --qos "$qos" --payload 100; then
      f="$WORK/$broker-$label.json"
      rate=$(json "$f" 'j["delivered_per_s"]')
      lost=$(json "$f" 'j["lost"]')
      sent=$(json "$f" 'j["sent_per_s"]')
      CELL[$broker,$label]="$(fmt_rate "$rate") msg/s (sent $(fmt_rate "$sent")/s, lost $lost, broker ${LAST_CPU} cores)"
      if [ "$broker" = mosquitto ] && [ "$qos" = 0 ]; then MOSQ_QOS0_RATE=$rate; fi
    else
      CELL[$broker,$label]="failed"
    fi
    stop_broker
  done
done

# --- (c): latency at a fixed rate --------------------------------------------
[ -n "$MOSQ_QOS0_RATE" ] || die "no mosquitto QoS 0 rate to derive the latency load from"
TOTAL_RATE=$(python3 -c "print(int(float($MOSQ_QOS0_RATE) / 2))")
PER_PUB_RATE=$(python3 -c "print(f'{$TOTAL_RATE / 4:.1f}')")
# latency_run BROKER LABEL [mosquitto.conf line]: one latency run on a fresh
# broker; sets LATENCY to the cell text. (Not a $(...) subshell: the broker's
# pid must stay visible to the cleanup trap.)
latency_run() {
  local broker=$1 label=$2 f
  start_broker "$broker" "${3:-}"
  if run_load "$broker" "$label" --publishers 4 --subscribers 1 --qos 0 --payload 100 --rate "$PER_PUB_RATE"; then
    f="$WORK/$broker-$label.json"
    LATENCY=$(json "$f" '"p50 %.0f / p99 %.0f / p99.9 %.0f us (%s msg/s delivered)" % (j["latency_us"]["p50"], j["latency_us"]["p99"], j["latency_us"]["p999"], format(round(j["delivered_per_s"]), ","))')
  else
    LATENCY="failed"
  fi
  stop_broker
}
log "fleetguard: latency at $TOTAL_RATE msg/s"
latency_run fleetguard latency
CELL[fleetguard,latency]=$LATENCY
# mosquitto leaves Nagle's algorithm on unless told otherwise: its small
# writes then wait for ACKs, which costs milliseconds of latency but roughly
# doubles its throughput in (a). Throughput runs use its default; latency is
# shown both ways (fleetguard disables Nagle on its sockets).
log "mosquitto: latency at $TOTAL_RATE msg/s (default, then set_tcp_nodelay true)"
latency_run mosquitto latency
CELL[mosquitto,latency]="default: $LATENCY"
latency_run mosquitto latency-nodelay "set_tcp_nodelay true"
CELL[mosquitto,latency]+="<br>set_tcp_nodelay true: $LATENCY"

# --- (d): idle connections -----------------------------------------------------
run_connections() {
  local broker=$1
  start_broker "$broker"
  sleep 1
  if hold_idle_connections "$broker" "$CONNS" "$PER_PROC"; then
    CELL[$broker,conns]=$(idle_cell "$CONNS")
  else
    CELL[$broker,conns]="failed"
  fi
  stop_broker
}

for broker in mosquitto fleetguard; do
  log "$broker: $CONNS idle connections"
  run_connections "$broker"
done

# --- report --------------------------------------------------------------------
MOSQ_VERSION=$("$MOSQUITTO" -h 2>/dev/null | head -1 || true)
report() {
  echo "## fleetguard vs mosquitto, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) CPU ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM; brokers and load tool share it."
  echo "fleetguard: \`$FLEETGUARD serve --mqtt-port P --bind 127.0.0.1 --data-dir D --mqtts-port 0 $FG_ARGS\`;"
  echo "mosquitto: ${MOSQ_VERSION:-$MOSQUITTO} with \`allow_anonymous true\`, \`max_queued_messages 100000\`, \`max_connections -1\`${MOSQ_CONF_EXTRA:+, $MOSQ_CONF_EXTRA}."
  echo "Loads by \`$(basename "$BENCH") bench\`, ${DURATION} s measured after ${WARMUP} s warm-up, open-file limit $FD_LIMIT for all; a fresh broker per load."
  echo
  echo "| Load | fleetguard | mosquitto |"
  echo "| --- | --- | --- |"
  echo "| (a) fan-in 4 pub -> 1 sub, 100 B, QoS 0, max rate: delivered | ${CELL[fleetguard,fanin-qos0]} | ${CELL[mosquitto,fanin-qos0]} |"
  echo "| (b) fan-in 4 pub -> 1 sub, 100 B, QoS 1, max rate: delivered | ${CELL[fleetguard,fanin-qos1]} | ${CELL[mosquitto,fanin-qos1]} |"
  echo "| (c) latency at $(fmt_rate "$TOTAL_RATE") msg/s (4 x $PER_PUB_RATE), QoS 0 | ${CELL[fleetguard,latency]} | ${CELL[mosquitto,latency]} |"
  echo "| (d) $CONNS idle connections: broker memory | ${CELL[fleetguard,conns]} | ${CELL[mosquitto,conns]} |"
  echo
}

report
if [ -n "$OUT_FILE" ]; then report >>"$OUT_FILE"; fi
