#!/usr/bin/env bash
# Issue 8: every load-tool scenario against the Iot broker and Mosquitto in one run, alternating, with a table of
# medians and ratios. See docs/benchmarks.md ("Issue 8: side-by-side, all scenarios") for what each row measures.
# Usage: bash bench/compare-all.sh
# Environment (defaults):
#   ROUNDS=2 SECONDS_PER_RUN=10      rounds; measured seconds per throughput run (after a 2 s warm-up)
#   SCENARIOS="fanin0 fanin1 telemetry telemetry5 fanout latency stream slow0 slow1 retained idle commands"   a subset
#                                    (telemetry: QoS 1 fan-in as users run it: 50 publishers, 32 unacknowledged and
#                                    20 in flight end to end each, one QoS 1 subscriber on devices/+/telemetry;
#                                    telemetry5: the same over MQTT 5, the subscriber's Receive Maximum 65535)
#   IDLE_SIZES="10000 19500"         idle connections per measurement (each on a freshly started broker)
#   IDLE_SETTLE=30                   seconds between the last CONNACK and the settled memory reading (the memory
#                                    right after they connected is reported too)
#   RETAINED_COUNT=100000            retained topics
#   SKIP_BROKER_BUILD=1              reuse the last Release build of the broker
#   RESULTS=path                     also keep the raw result lines there
#   VARIANT_ENV="NAME=VALUE ..."      also run a second instance of our broker ("variant") with these environment
#   VARIANT_DLL=path                  variables and/or this Iot.Broker.dll, alternating with the other two in the
#                                    throughput and idle scenarios (e.g. a runtime knob, or a before/after build)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${SECONDS_PER_RUN:-10}"
rounds="${ROUNDS:-2}"
scenarios="${SCENARIOS:-fanin0 fanin1 telemetry telemetry5 fanout latency stream slow0 slow1 retained idle commands}"
idle_settle="${IDLE_SETTLE:-30}"
idle_sizes="${IDLE_SIZES:-10000 19500}"
retained_count="${RETAINED_COUNT:-100000}"
work="$(mktemp -d)"
ours_pid=""
mosq_pid=""
var_pid=""
variant_env="${VARIANT_ENV:-}"
variant_dll="${VARIANT_DLL:-}"
with_variant=0
[[ -n "$variant_env$variant_dll" ]] && with_variant=1

# One process holds at most about 19 500 sockets: the open-files hard limit here is 20 000 and cannot be raised.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cleanup() {
  stop_ours
  stop_variant
  stop_mosquitto
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

has() { [[ " $scenarios " == *" $1 "* ]]; }

# order_of ROUND: the brokers of a round (sets brokers), the first one rotating from round to round.
order_of() {
  local all=(ours mosquitto) i
  (( with_variant )) && all=(ours variant mosquitto)
  brokers=()
  for i in "${!all[@]}"; do brokers+=("${all[(i + $1 - 1) % ${#all[@]}]}"); done
}

# launch_ours DLL ENV...: start our broker, wait for its ports file; sets started_pid, started_port, started_http.
launch_ours() {
  local dir dll="$1"
  shift
  dir="$(mktemp -d -p "$work")"
  env "$@" dotnet "$dll" \
    --Iot:Mqtt:Port=0 --Iot:Http:Port=0 --Iot:DataDir="$dir/data" \
    --Iot:Security:AllowAnonymous=true --Iot:PortsFile="$dir/ports.json" \
    --Logging:LogLevel:Default=Warning >"$dir/broker.log" 2>&1 &
  started_pid=$!
  for _ in $(seq 1 300); do
    [[ -s "$dir/ports.json" ]] && break
    kill -0 "$started_pid" 2>/dev/null || { echo "Iot broker exited:"; cat "$dir/broker.log"; exit 1; }
    sleep 0.1
  done
  [[ -s "$dir/ports.json" ]] || { echo "Iot broker did not write its ports file within 30 s"; exit 1; }
  started_port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt"])' "$dir/ports.json")"
  started_http="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$dir/ports.json")"
}

start_ours() {
  launch_ours "$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll"
  ours_pid="$started_pid" ours_port="$started_port" ours_http="$started_http"
}

start_variant() {
  # shellcheck disable=SC2086 # VARIANT_ENV is deliberately split into NAME=VALUE words
  launch_ours "${variant_dll:-$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll}" $variant_env
  var_pid="$started_pid" var_port="$started_port" var_http="$started_http"
}

stop_variant() {
  if [[ -n "$var_pid" ]]; then
    kill "$var_pid" 2>/dev/null && wait "$var_pid" 2>/dev/null || true
    var_pid=""
  fi
}

stop_ours() {
  if [[ -n "$ours_pid" ]]; then
    kill "$ours_pid" 2>/dev/null && wait "$ours_pid" 2>/dev/null || true
    ours_pid=""
  fi
}

start_mosquitto() {
  local dir
  dir="$(mktemp -d -p "$work")"
  mosq_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  # Defaults otherwise: max_queued_messages 1000, max_inflight_messages 20, max_connections -1 (unlimited).
  # sys_interval 1: $SYS/broker/publish/messages/dropped every second, read by the slow-consumer runs.
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\nsys_interval 1\n' "$mosq_port" >"$dir/mosquitto.conf"
  /usr/sbin/mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
  mosq_pid=$!
  for _ in $(seq 1 50); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' "$mosq_port" 2>/dev/null && return
    sleep 0.1
  done
  echo "Mosquitto did not listen on $mosq_port within 5 s"; cat "$dir/mosquitto.log"; exit 1
}

stop_mosquitto() {
  if [[ -n "$mosq_pid" ]]; then
    kill "$mosq_pid" 2>/dev/null && wait "$mosq_pid" 2>/dev/null || true
    mosq_pid=""
  fi
}

results="${RESULTS:-$work/results.txt}"
: >"$results"

# run LABEL BROKER TIMEOUT TOOL-ARGS...: one load-tool run, its line tagged with round, label and broker.
run() {
  local label="$1" broker="$2" limit="$3" port pid line env=() extra=()
  shift 3
  case "$broker" in
    ours) port="$ours_port"; pid="$ours_pid" ;;
    variant) port="$var_port"; pid="$var_pid" ;;
    *) port="$mosq_port"; pid="$mosq_pid" ;;
  esac
  # Our broker's collections and allocation per message in the latency run.
  if [[ "$1" == latency ]]; then
    case "$broker" in
      ours) extra=(--metrics-url "http://127.0.0.1:$ours_http/metrics") ;;
      variant) extra=(--metrics-url "http://127.0.0.1:$var_http/metrics") ;;
    esac
  fi
  # The broker's own count of dropped messages, where the scenario reports it.
  if [[ "$1" == slowconsumer ]]; then
    case "$broker" in
      ours) extra=(--metrics-url "http://127.0.0.1:$ours_http/metrics") ;;
      variant) extra=(--metrics-url "http://127.0.0.1:$var_http/metrics") ;;
      *) extra=(--sys-dropped 1) ;;
    esac
  fi
  # The latency scenario's threads sleep between messages; without this the tool's idle thread-pool workers spin
  # and take CPU from the broker on 2 cores.
  [[ "$1" == latency ]] && env=(env DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0)
  line="$(timeout "$limit" "${env[@]}" dotnet "$tool" "$@" "${extra[@]}" --port "$port" --broker-pid "$pid" 2>"$work/stderr" || echo "failed rc=$?")"
  [[ -s "$work/stderr" ]] && sed 's/^/    stderr: /' "$work/stderr" | head -5
  echo "round=$round label=$label broker=$broker $line" | tee -a "$results"
}

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), .NET SDK $(dotnet --version), $(/usr/sbin/mosquitto -h | head -1)"
echo "== $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
(( with_variant )) && echo "== variant: ${variant_dll:-the same build} with env: ${variant_env:-none}"
echo "== build (Release)"
if [[ "${SKIP_BROKER_BUILD:-0}" == 1 ]]; then
  echo "SKIP_BROKER_BUILD=1: reusing the Release build of $(date -u -r "$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll" +%FT%TZ)"
else
  dotnet build "$root/src/Iot.Broker/Iot.Broker.csproj" -c Release -nologo -v q
fi
dotnet build "$root/bench/Iot.LoadTool/Iot.LoadTool.csproj" -c Release -nologo -v q
tool="$root/bench/Iot.LoadTool/bin/Release/net10.0/Iot.LoadTool.dll"

declare -A throughput=(
  [fanin0]="fanin --qos 0 --seconds $seconds"
  [fanin1]="fanin --qos 1 --seconds $seconds"
  [telemetry]="telemetry-fanin --publishers 50 --max-unacked 32 --max-in-flight 20 --payload 64 --seconds $seconds"
  [telemetry5]="telemetry-fanin --protocol 5 --publishers 50 --max-unacked 32 --max-in-flight 20 --payload 64 --seconds $seconds"
  [fanout]="fanout --qos 0 --seconds $seconds"
  [latency]="latency --rate 2000 --seconds $seconds"
  [stream]="stream --devices 50 --window 20 --seconds $seconds"
  [slow0]="slowconsumer --qos 0 --publishers 4 --seconds $seconds"
  [slow1]="slowconsumer --qos 1 --publishers 4 --seconds $seconds"
)
order=(fanin0 fanin1 telemetry telemetry5 fanout latency stream slow0 slow1)

wanted=0
for label in "${order[@]}"; do has "$label" && wanted=1; done
if (( wanted )); then
  start_ours
  start_mosquitto
  (( with_variant )) && start_variant
  echo "ours: port $ours_port pid $ours_pid; mosquitto: port $mosq_port pid $mosq_pid; $seconds s per run, $rounds rounds"
  (( with_variant )) && echo "variant: port $var_port pid $var_pid"
  if has latency; then
    # One unmeasured latency run per broker first: a .NET broker compiles its code as it goes (and collects its
    # start-up garbage once) in its first seconds, which the scenario's 2 s warm-up does not always cover when
    # latency is the first scenario of the run. Every broker gets the same warm-up; nothing of it is reported.
    for broker in ours mosquitto variant; do
      [[ "$broker" == variant ]] && (( ! with_variant )) && continue
      case "$broker" in ours) port="$ours_port" ;; variant) port="$var_port" ;; *) port="$mosq_port" ;; esac
      timeout 60 dotnet "$tool" latency --rate 2000 --seconds 3 --warmup 1 --port "$port" >/dev/null 2>&1 \
        || echo "warm-up run against $broker failed"
    done
    echo "warm-up: one unmeasured 4 s latency run per broker"
  fi
  for round in $(seq 1 "$rounds"); do
    # Alternate who goes first, so a drift in the machine's load does not always favour the same broker.
    order_of "$round"
    echo "== round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
    for label in "${order[@]}"; do
      has "$label" || continue
      for broker in "${brokers[@]}"; do
        # shellcheck disable=SC2086 # the scenario string is deliberately split into arguments
        run "$label" "$broker" $((seconds * 3 + 180)) ${throughput[$label]}
      done
    done
  done
  kill -0 "$ours_pid" 2>/dev/null || echo "WARNING: the Iot broker is no longer running"
  kill -0 "$mosq_pid" 2>/dev/null || echo "WARNING: Mosquitto is no longer running"
  (( with_variant )) && { kill -0 "$var_pid" 2>/dev/null || echo "WARNING: the variant broker is no longer running"; }
  stop_ours
  stop_variant
  stop_mosquitto
fi

# fresh BROKER: start it, for a measurement of memory growth that memory freed by an earlier run would hide.
fresh() {
  case "$1" in
    ours) stop_ours; start_ours ;;
    variant) stop_variant; start_variant ;;
    *) stop_mosquitto; start_mosquitto ;;
  esac
}
stop() { case "$1" in ours) stop_ours ;; variant) stop_variant ;; *) stop_mosquitto ;; esac; }

if has retained; then
  for round in $(seq 1 "$rounds"); do
    if (( round % 2 )); then brokers=(ours mosquitto); else brokers=(mosquitto ours); fi
    echo "== retained $retained_count, round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
    for broker in "${brokers[@]}"; do
      fresh "$broker"
      run retained "$broker" 600 retained --count "$retained_count" --publishers 10 --window 20
      if [[ "$broker" == ours ]]; then stop_ours; else stop_mosquitto; fi
    done
  done
fi

if has idle; then
  for round in $(seq 1 "$rounds"); do
    order_of "$round"
    for size in $idle_sizes; do
      echo "== idle $size, round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
      for broker in "${brokers[@]}"; do
        fresh "$broker"
        run "idle$size" "$broker" 300 idle --connections "$size" --warm 100 --sources 64 --concurrency 100 --keepalive 300 --settle "$idle_settle" --hold 5
        stop "$broker"
      done
    done
  done
fi

if has commands; then
  echo "== commands to 1 000 connected devices (Iot broker only: Mosquitto has no command queue)"
  bash "$root/bench/commands-bench.sh" 1000 5000 64 2>&1 | tail -3 | sed 's/^/    /' | tee -a "$work/commands.txt" || echo "    commands-bench failed"
fi

echo
echo "== medians over $rounds round(s), $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$root/bench/compare-table.py" "$results"
if [[ -s "$work/commands.txt" ]]; then
  echo
  echo "Commands (ours only): $(tail -1 "$work/commands.txt" | sed 's/^ *//')"
fi
failed="$(grep -c 'failed rc=' "$results" || true)"
[[ "$failed" == 0 ]] || echo "WARNING: $failed run(s) failed, see the lines above"
