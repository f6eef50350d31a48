#!/usr/bin/env bash
# Mutual-TLS benchmarks of issue 3: fleetguard against Debian's mosquitto
# configured with `require_certificate true`, in the same run, with the same
# certificates (ECDSA P-256 everywhere), one broker after the other. Prints a
# Markdown table (also appended to the file given as the first argument).
#
#   bench/mtls_compare.sh [results.md]
#
# Set-up: fleetguard starts with a temporary data directory (its CA and server
# certificate are created there), one device certificate is created ACTIVE
# through its AWS-compatible API with /usr/bin/aws, and fleetguard stops.
# mosquitto then uses fleetguard's server.crt/server.key, cafile ca.pem and
# require_certificate true; fleetguard restarts on the same data directory.
# Every bench connection presents that one device certificate.
#
# Loads, all driven by `fleetguard bench --tls --cert ... --key ...`:
#   (a) connect rate: RATE_CONNS new mutual-TLS connections (full handshake,
#       no session resumption) with MQTT CONNECT/CONNACK, RATE_CONCURRENCY at
#       once, held until all are up; connects/s, and the broker's CPU per
#       connect (less sensitive to other load on the machine). RATE_RUNS
#       rounds, the brokers alternating, a fresh broker each time; median.
#   (b) idle memory: CONNS idle mutual-TLS connections, broker RSS before and
#       after, KB each.
#
# Environment (defaults in brackets):
#   FLEETGUARD [./build/fleetguard]  binary under test; also provides `bench`
#   MOSQUITTO [/usr/sbin/mosquitto]  AWS [/usr/bin/aws]
#   BENCH [$FLEETGUARD]              binary whose `bench` subcommand drives the load
#   RATE_CONNS [3000] RATE_CONCURRENCY [16] RATE_THREADS [2] RATE_RUNS [3]
#   CONNS [15000]                    idle connections in (b); at most ~19,900
#   PER_PROC [7500]                  connections per bench process in (b); each
#                                    process connects from its own 127.0.0.x
#   FG_ARGS []  MOSQ_CONF_EXTRA []   extra `serve` arguments / mosquitto.conf lines
set -euo pipefail

FLEETGUARD=${FLEETGUARD:-./build/fleetguard}
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
AWS=${AWS:-/usr/bin/aws}
RATE_CONNS=${RATE_CONNS:-3000}
RATE_CONCURRENCY=${RATE_CONCURRENCY:-16}
RATE_THREADS=${RATE_THREADS:-2}
RATE_RUNS=${RATE_RUNS:-3}
CONNS=${CONNS:-15000}
PER_PROC=${PER_PROC:-7500}
FG_ARGS=${FG_ARGS:-}
MOSQ_CONF_EXTRA=${MOSQ_CONF_EXTRA:-}
OUT_FILE=${1:-}
FD_LIMIT=20000

# die, log, free_port, wait_port, stop_broker, rss_kb, cpu_s, json, fmt_rate,
# hold_idle_connections, idle_cell.
# shellcheck source=bench/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"

[ -x "$AWS" ] || die "AWS=$AWS is not an executable (the AWS CLI provisions the device certificate)"
prepare_run fg-mtls-compare
DATA="$WORK/fleetguard-data"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# start_broker fleetguard|mosquitto: a fresh broker on a free port of
# 127.0.0.1 requiring client certificates; sets PORT, BROKER_PID, BROKER_LOG.
start_broker() {
  local name=$1 dir="$WORK/$1-$RANDOM"
  mkdir -p "$dir"
  PORT=$(free_port)
  if [ "$name" = fleetguard ]; then
    # shellcheck disable=SC2086  # FG_ARGS is a list of words on purpose
    "$FLEETGUARD" serve --data-dir "$DATA" --bind 127.0.0.1 --mqtts-port "$PORT" --api-port 0 \
      --log-level warn $FG_ARGS >"$dir/broker.log" 2>&1 &
  else
    {
      echo "listener $PORT 127.0.0.1"
      echo "cafile $DATA/ca.pem"
      echo "certfile $DATA/server.crt"
      echo "keyfile $DATA/server.key"
      echo "require_certificate true"
      echo "allow_anonymous true"
      echo "max_connections -1"
      echo "persistence false"
      # Run as root, mosquitto would switch to the `mosquitto` user and then
      # fail to read the key and CA in this private temporary directory.
      [ "$(id -u)" = 0 ] && echo "user root"
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
}

# --- set-up: CA, server certificate, one ACTIVE device certificate ------------
log "provisioning a device certificate through fleetguard's API"
"$FLEETGUARD" serve --data-dir "$DATA" --bind 127.0.0.1 --mqtts-port 0 --api-port 0 --log-level warn \
  >"$WORK/provision.log" 2>&1 &
BROKER_PID=$!
API_PORT=$(fg_api_port "$WORK/provision.log")
fg_iot "$DATA" "$API_PORT" create-keys-and-certificate --set-as-active >"$WORK/device.json" ||
  die "create-keys-and-certificate failed"
fg_create_allow_all "$DATA" "$API_PORT"
fg_iot "$DATA" "$API_PORT" attach-policy --policy-name "$ALLOW_ALL_POLICY" \
  --target "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certificateArn"])' "$WORK/device.json")" ||
  die "attach-policy failed"
python3 - "$WORK" <<'EOF'
import json, os, sys
work = sys.argv[1]
j = json.load(open(os.path.join(work, "device.json")))
open(os.path.join(work, "device.crt"), "w").write(j["certificatePem"])
key = os.path.join(work, "device.key")
with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
    f.write(j["keyPair"]["PrivateKey"])
EOF
stop_broker
TLS_ARGS=(--tls --cafile "$DATA/ca.pem" --cert "$WORK/device.crt" --key "$WORK/device.key")
KEY_TYPE=$(openssl x509 -in "$WORK/device.crt" -noout -text 2>/dev/null | awk -F': ' '/NIST CURVE/ {print "ECDSA " $2; exit}')

# --- (a): connect rate -----------------------------------------------------------
declare -A RATES CPUS
for ((r = 1; r <= RATE_RUNS; r++)); do
  for broker in mosquitto fleetguard; do
    log "$broker: connect rate, round $r of $RATE_RUNS ($RATE_CONNS connections, $RATE_CONCURRENCY at once)"
    start_broker "$broker"
    sleep 1
    out="$WORK/$broker-rate-$r.json"
    before=$(cpu_s)
    if "$BENCH" bench --port "$PORT" --connections-only "$RATE_CONNS" --connect-concurrency "$RATE_CONCURRENCY" \
      --threads "$RATE_THREADS" --hold 0 --client-id-prefix "fgrate-$r" --json "${TLS_ARGS[@]}" \
      >"$out" 2>"$out.err"; then
      after=$(cpu_s)
      RATES[$broker]+="$(json "$out" 'j["connect_per_s"]') "
      CPUS[$broker]+="$(python3 -c "print(f'{($after - $before) * 1000 / $RATE_CONNS:.3f}')") "
    else
      log "$broker connect rate failed: $(cat "$out.err"); log: $(tail -n 5 "$BROKER_LOG")"
    fi
    stop_broker
  done
done

# rate_cell BROKER: "median connects/s (runs ...)" and CPU per connect.
rate_cell() {
  python3 -c "
import statistics
rates = [float(x) for x in '${RATES[$1]:-}'.split()]
cpus = [float(x) for x in '${CPUS[$1]:-}'.split()]
if not rates:
    print('failed')
else:
    runs = ', '.join(f'{x:,.0f}' for x in rates)
    print(f'**{statistics.median(rates):,.0f} connects/s** (runs: {runs}); broker CPU {statistics.median(cpus):.2f} ms per connect')"
}

# --- (b): idle mutual-TLS connections -----------------------------------------------
declare -A IDLE
for broker in mosquitto fleetguard; do
  log "$broker: $CONNS idle mutual-TLS connections"
  start_broker "$broker"
  sleep 1
  if hold_idle_connections "$broker-mtls" "$CONNS" "$PER_PROC" "${TLS_ARGS[@]}"; then
    IDLE[$broker]=$(idle_cell "$CONNS")
  else
    IDLE[$broker]="failed"
  fi
  stop_broker
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report --------------------------------------------------------------------
MOSQ_VERSION=$("$MOSQUITTO" -h 2>/dev/null | head -1 || true)
report() {
  echo "| Load | fleetguard | mosquitto (\`require_certificate true\`) |"
  echo "| --- | --- | --- |"
  echo "| (a) connect rate: $RATE_CONNS new mutual-TLS connections + CONNECT/CONNACK, $RATE_CONCURRENCY in parallel, $KEY_TYPE device certificate; median of $RATE_RUNS | $(rate_cell fleetguard) | $(rate_cell mosquitto) |"
  echo "| (b) $CONNS idle mutual-TLS connections: broker memory | ${IDLE[fleetguard]} | ${IDLE[mosquitto]} |"
  echo
  echo "Machine: $(nproc) CPU ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average (1/5/15 min) $LOAD_START at the start, $LOAD_END at the end; brokers and load tool share it."
  echo "mosquitto: ${MOSQ_VERSION:-$MOSQUITTO}; bench tool: \`$(basename "$BENCH") bench\`, open-file limit $FD_LIMIT; a fresh broker per load."
}

report
if [ -n "$OUT_FILE" ]; then report >>"$OUT_FILE"; fi
