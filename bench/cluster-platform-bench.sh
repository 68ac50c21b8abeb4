#!/usr/bin/env bash
# Issue 19: the platform's durable parts through the brokers' own APIs, one node beside three, in one run. Starts a
# broker in single-process mode (SQLite queues, file stream log), three nats-server processes as a JetStream cluster
# and three brokers in cluster mode on it (every stream and bucket with three replicas), all on free loopback ports,
# then runs each workload on: single (the single-process broker), cluster-1 (one cluster broker takes all the
# traffic) and cluster-3 (the traffic spread round-robin over the three cluster brokers):
#   queue     HTTP queue API: N messages sent by 16 callers, then received (batches of 32) and completed by 8
#             (bench/Iot.QueueBench http); send and receive+complete per second, each message acknowledged durably
#   commands  device commands with ?wait: 300 MQTT devices answering at once, 32 HTTP callers; commands/s and the round
#             trip (bench/Iot.QueueBench commands); on cluster-3 a command is posted on one node and its device is on
#             another
#   stream    QoS 1 telemetry to the durable stream telemetry, PUBACK after the append (bench/Iot.LoadTool stream)
# Usage: bash bench/cluster-platform-bench.sh
# Environment (defaults): MESSAGES=3000 COMMANDS=2000 SECONDS_PER_RUN=10 WORKLOADS="queue commands stream"
#   SKIP_BUILD=1 reuses the last Release builds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
messages="${MESSAGES:-3000}"; commands="${COMMANDS:-2000}"; seconds="${SECONDS_PER_RUN:-10}"
workloads="${WORKLOADS:-queue commands stream}"
work="$(mktemp -d)"
pids=()
declare -a nats_client nats_route

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

has() { [[ " $workloads " == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

start_nats_cluster() {
  local i j routes
  for i in 0 1 2; do nats_client[$i]="$(free_port)"; nats_route[$i]="$(free_port)"; done
  for i in 0 1 2; do
    routes=""; for j in 0 1 2; do [[ "$j" != "$i" ]] && routes+="nats://127.0.0.1:${nats_route[$j]}, "; done
    mkdir -p "$work/nats$i"
    cat >"$work/nats$i/nats.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:${nats_client[$i]}
max_payload: 8MB
jetstream { store_dir: "$work/nats$i/js" }
cluster { name: iot-platform-bench, listen: 127.0.0.1:${nats_route[$i]}, routes: [${routes%, }] }
EOF
    /usr/sbin/nats-server -c "$work/nats$i/nats.conf" >>"$work/nats$i/log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1 100); do
    grep -q "JetStream cluster new metadata leader\|Self is new JetStream cluster metadata leader" "$work"/nats*/log 2>/dev/null && return
    sleep 0.2
  done
  echo "the NATS cluster elected no JetStream leader within 20 s"; tail -5 "$work"/nats*/log; exit 1
}

# launch NAME ARGS...: a broker (Release build) with its own data dir; sets mqtt_NAME, http_NAME.
launch() {
  local name="$1" dir="$work/$1"
  shift
  mkdir -p "$dir"
  dotnet "$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll" \
    --Iot:Mqtt:Port=0 --Iot:Http:Port=0 --Iot:DataDir="$dir/data" --Iot:Security:AllowAnonymous=true \
    --Iot:PortsFile="$dir/ports.json" --Logging:LogLevel:Default=Warning "$@" >"$dir/broker.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 900); do
    [[ -s "$dir/ports.json" ]] && break
    kill -0 "$pid" 2>/dev/null || { echo "broker $name exited:"; tail -20 "$dir/broker.log"; exit 1; }
    sleep 0.1
  done
  [[ -s "$dir/ports.json" ]] || { echo "broker $name did not start within 90 s"; tail -20 "$dir/broker.log"; exit 1; }
  printf -v "mqtt_$name" '%s' "$(json_port "$dir/ports.json" mqtt)"
  printf -v "http_$name" '%s' "$(json_port "$dir/ports.json" http)"
}

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), .NET SDK $(dotnet --version), $(/usr/sbin/nats-server --version)"
echo "== $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  dotnet build "$root/src/Iot.Broker/Iot.Broker.csproj" -c Release -nologo -v q
  dotnet build "$root/bench/Iot.QueueBench/Iot.QueueBench.csproj" -c Release -nologo -v q
  dotnet build "$root/bench/Iot.LoadTool/Iot.LoadTool.csproj" -c Release -nologo -v q
fi
queuebench="$root/bench/Iot.QueueBench/bin/Release/net10.0/Iot.QueueBench.dll"
loadtool="$root/bench/Iot.LoadTool/bin/Release/net10.0/Iot.LoadTool.dll"

start_nats_cluster
urls="nats://127.0.0.1:${nats_client[0]},nats://127.0.0.1:${nats_client[1]},nats://127.0.0.1:${nats_client[2]}"
launch single
# One cluster broker first: it creates the streams and buckets (see docs/cluster.md, "Switching it on").
launch a --Iot:Cluster:Nats:Url="$urls" --Iot:Cluster:NodeId=bench-a
launch b --Iot:Cluster:Nats:Url="$urls" --Iot:Cluster:NodeId=bench-b
launch c --Iot:Cluster:Nats:Url="$urls" --Iot:Cluster:NodeId=bench-c
echo "single: mqtt $mqtt_single http $http_single; cluster: mqtt $mqtt_a,$mqtt_b,$mqtt_c http $http_a,$http_b,$http_c"

declare -A http mqtt
http[single]="http://127.0.0.1:$http_single/"; mqtt[single]="$mqtt_single"
http[cluster-1]="http://127.0.0.1:$http_a/"; mqtt[cluster-1]="$mqtt_a"
http[cluster-3]="http://127.0.0.1:$http_a/,http://127.0.0.1:$http_b/,http://127.0.0.1:$http_c/"; mqtt[cluster-3]="$mqtt_a,$mqtt_b,$mqtt_c"

for target in single cluster-1 cluster-3; do
  echo "== $target (load $(cut -d' ' -f1-3 /proc/loadavg))"
  if has queue; then
    timeout 600 dotnet "$queuebench" http "$messages" 16 8 "${http[$target]}" 2>&1 | sed 's/^/  /' || echo "  queue failed"
  fi
  if has commands; then
    timeout 600 dotnet "$queuebench" commands 300 "$commands" "${http[$target]}" "${mqtt[$target]}" 32 2>&1 | sed 's/^/  /' || echo "  commands failed"
  fi
  if has stream; then
    first="${mqtt[$target]%%,*}"
    timeout 300 dotnet "$loadtool" stream --port "$first" --ports "${mqtt[$target]}" --devices 48 --seconds "$seconds" 2>&1 | tail -1 | sed 's/^/  /' \
      || echo "  stream failed"
  fi
done
