# shellcheck shell=bash
# Shell helpers shared by bench/compare.sh and bench/mtls_compare.sh: broker
# processes, ports, memory and CPU readings, the bench tool's JSON, and the
# idle-connections measurement. Sourced, not run:
#
#   . "$(dirname "$0")/bench_lib.sh"
#
# The sourcing script sets, before calling these:
#   BENCH      the binary whose `bench` subcommand drives the load
#   WORK       a temporary directory it owns (bench_lib_cleanup removes it)
# and these helpers maintain:
#   BROKER_PID the broker being measured ("" when none); PORT its port
#   TOOL_PIDS  bench processes still running (killed by bench_lib_cleanup)
# Messages are prefixed with the script's name.

BENCH_LIB_NAME=$(basename "$0")

# fleetguard authorises every client by AWS IoT policy (default deny), so a
# benchmark gives its clients one that allows everything.
ALLOW_ALL_POLICY=BenchAllowAll
ALLOW_ALL_DOCUMENT='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}'

# fg_api_port LOG: waits until the fleetguard writing LOG (BROKER_PID) prints
# its API port, and prints it.
fg_api_port() {
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/^API listening on [0-9.]*:\([0-9]*\).*/\1/p' "$1")
    [ -n "$port" ] && break
    kill -0 "$BROKER_PID" 2>/dev/null || die "fleetguard exited at start: $(cat "$1")"
    sleep 0.1
  done
  [ -n "$port" ] || die "fleetguard printed no API port: $(cat "$1")"
  echo "$port"
}

# fg_iot DATA_DIR API_PORT ARGS...: `aws iot ARGS` against that fleetguard
# with its admin credentials.
fg_iot() {
  local data=$1 port=$2
  shift 2
  AWS_SHARED_CREDENTIALS_FILE="$data/admin-credentials" AWS_CONFIG_FILE=/dev/null \
    "$AWS" --endpoint-url "http://127.0.0.1:$port" --region us-east-1 iot "$@"
}

# fg_create_allow_all DATA_DIR API_PORT: creates ALLOW_ALL_POLICY.
fg_create_allow_all() {
  fg_iot "$1" "$2" create-policy --policy-name "$ALLOW_ALL_POLICY" --policy-document "$ALLOW_ALL_DOCUMENT" \
    >/dev/null || die "create-policy $ALLOW_ALL_POLICY failed"
}

# prepare_run WORK_PREFIX: checks FLEETGUARD, MOSQUITTO and python3, resolves
# FLEETGUARD and BENCH to absolute paths, gives both brokers and the bench
# processes (which inherit it) the same open-file limit FD_LIMIT, and creates
# WORK (removed on exit).
prepare_run() {
  [ -x "$FLEETGUARD" ] || die "FLEETGUARD=$FLEETGUARD is not an executable (build it: ninja -C build fleetguard)"
  [ -x "$MOSQUITTO" ] || die "MOSQUITTO=$MOSQUITTO is not an executable (apt-get install mosquitto)"
  command -v python3 >/dev/null || die "python3 is needed to read the bench tool's JSON"
  FLEETGUARD=$(readlink -f "$FLEETGUARD")
  BENCH=$(readlink -f "${BENCH:-$FLEETGUARD}")
  [ -x "$BENCH" ] || die "BENCH=$BENCH is not an executable"
  ulimit -n "$FD_LIMIT" 2>/dev/null || die "cannot raise the open-file limit to $FD_LIMIT (ulimit -Hn is $(ulimit -Hn))"
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  trap bench_lib_cleanup EXIT
  trap 'exit 130' INT TERM
}
BROKER_PID=""
TOOL_PIDS=()

die() { echo "$BENCH_LIB_NAME: $*" >&2; exit 1; }
log() { echo "$BENCH_LIB_NAME: $*" >&2; }

# Kills what the helpers started and removes $WORK; for the EXIT trap.
bench_lib_cleanup() {
  local pid
  for pid in "${TOOL_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  stop_broker
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1.
wait_port() {
  python3 - "$1" <<'EOF' || die "broker did not start listening on port $1"
import socket, sys, time
port = int(sys.argv[1])
deadline = time.time() + 20
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
}

stop_broker() {
  if [ -n "$BROKER_PID" ]; then
    kill "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
  fi
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status"; }
# CPU seconds (user + system) the broker has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$BROKER_PID/stat"; }

# json FILE EXPR: evaluates a Python expression over the last JSON line `j` of FILE.
json() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
j = json.loads(lines[-1])
print(eval(sys.argv[2], {"j": j}))
EOF
}

fmt_rate() { python3 -c "print(f'{float($1):,.0f}')"; }

# hold_idle_connections LABEL CONNS PER_PROC [bench options...]: opens CONNS
# idle connections to the running broker (127.0.0.1:$PORT) from
# ceil(CONNS / PER_PROC) bench processes, each from its own 127.0.0.x so local
# ports never run short, and reads the broker's RSS before and once all are
# up. Sets IDLE_BEFORE_KB, IDLE_AFTER_KB and IDLE_CONNECT_S (the slowest
# process's connect time); returns 1 (after logging why) if a process fails.
# The extra options go to every bench process (e.g. --tls --cert ...).
hold_idle_connections() {
  local label=$1 conns=$2 per_proc=$3
  shift 3
  local procs n k p pid remaining ready deadline
  procs=$(( (conns + per_proc - 1) / per_proc ))
  IDLE_BEFORE_KB=$(rss_kb)
  TOOL_PIDS=()
  remaining=$conns
  for ((k = 0; k < procs; k++)); do
    n=$(( remaining < per_proc ? remaining : per_proc ))
    remaining=$(( remaining - n ))
    "$BENCH" bench --port "$PORT" --connections-only "$n" --source-ips "127.0.0.$((k + 2))" \
      --connect-concurrency 16 --client-id-prefix "fgcmp-$label-$k" --json "$@" \
      >"$WORK/$label-conn-$k.out" 2>"$WORK/$label-conn-$k.err" &
    TOOL_PIDS+=($!)
  done
  deadline=$((SECONDS + 300))
  while :; do
    ready=0
    for ((k = 0; k < procs; k++)); do
      grep -q '^READY' "$WORK/$label-conn-$k.out" 2>/dev/null && ready=$((ready + 1))
    done
    [ "$ready" -eq "$procs" ] && break
    for pid in "${TOOL_PIDS[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        log "$label: a bench process exited early: $(cat "$WORK"/"$label"-conn-*.err)"
        for p in "${TOOL_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
        for p in "${TOOL_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
        TOOL_PIDS=()
        return 1
      fi
    done
    [ "$SECONDS" -lt "$deadline" ] || die "$label: connections not ready after 300 s"
    sleep 0.2
  done
  # Let the broker finish whatever the last CONNECTs started before measuring.
  sleep 2
  IDLE_AFTER_KB=$(rss_kb)
  for pid in "${TOOL_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${TOOL_PIDS[@]}"; do wait "$pid" || true; done
  TOOL_PIDS=()
  IDLE_CONNECT_S=$(python3 - "$WORK"/"$label"-conn-*.out <<'EOF'
import json, sys
times = []
for path in sys.argv[1:]:
    for line in open(path):
        if line.startswith("{"):
            times.append(json.loads(line)["connect_s"])
print(f"{max(times):.2f}" if times else "nan")
EOF
)
}

# idle_cell CONNS: the table cell for the last hold_idle_connections.
idle_cell() {
  python3 -c "
before, after, n, t = $IDLE_BEFORE_KB, $IDLE_AFTER_KB, $1, float('$IDLE_CONNECT_S')
print(f'{(after - before) / n:.2f} KB/conn (RSS {before/1024:.1f} -> {after/1024:.1f} MB; connected in {t:.2f} s, {n / t:,.0f}/s)')"
}
