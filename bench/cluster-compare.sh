#!/usr/bin/env bash
# Issue 18: cross-node figures beside single-node ones, in one run. Starts three nats-server processes as a JetStream
# cluster, two brokers in cluster mode (node A and node B), one broker in single-process mode and Mosquitto, all on
# free loopback ports, then runs, round after round:
#   fanin0   QoS 0 fan-in 50 -> 1: single node, and publishers on A with the subscriber on B (cross-node)
#   fanin1   QoS 1 fan-in 50 -> 1: single node, cross-node, and Mosquitto (the issue's goal: cross-node QoS 1 at
#            least Mosquitto's single-node in-memory QoS 1)
#   latency  QoS 1 at a fixed rate (2000 msg/s): p50/p99/p99.9, single node and cross-node
#   natskill cross-node latency while the NATS server node A is connected to (A is given only that one; it learns
#            the others from the cluster) is killed with kill -9 two seconds into the measured part of the run and
#            restarted five seconds later: max latency is the pause, lost what the live hop dropped
# Usage: bash bench/cluster-compare.sh
# Environment (defaults): ROUNDS=2 SECONDS_PER_RUN=10 SCENARIOS="fanin0 fanin1 latency natskill"
#   SKIP_BROKER_BUILD=1 reuses the last Release build; RESULTS=path keeps the raw result lines.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${SECONDS_PER_RUN:-10}"
rounds="${ROUNDS:-2}"
scenarios="${SCENARIOS:-fanin0 fanin1 latency natskill}"
work="$(mktemp -d)"
pids=()
declare -a nats_pid nats_client nats_route

cleanup() {
  for pid in "${pids[@]}" "${nats_pid[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

has() { [[ " $scenarios " == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_port() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# start_nats I: server I of the three (ports chosen by start_nats_cluster); restartable with the same store.
start_nats() {
  local i="$1" routes="" j
  for j in 0 1 2; do [[ "$j" != "$i" ]] && routes+="nats://127.0.0.1:${nats_route[$j]}, "; done
  mkdir -p "$work/nats$i"
  cat >"$work/nats$i/nats.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:${nats_client[$i]}
max_payload: 8MB
max_control_line: 64KB
jetstream { store_dir: "$work/nats$i/js" }
cluster { name: iot-bench, listen: 127.0.0.1:${nats_route[$i]}, routes: [${routes%, }] }
EOF
  /usr/sbin/nats-server -c "$work/nats$i/nats.conf" >>"$work/nats$i/log" 2>&1 &
  nats_pid[$i]=$!
}

start_nats_cluster() {
  local i
  for i in 0 1 2; do nats_client[$i]="$(free_port)"; nats_route[$i]="$(free_port)"; done
  for i in 0 1 2; do start_nats "$i"; done
  for _ in $(seq 1 100); do
    grep -q "JetStream cluster new metadata leader\|Self is new JetStream cluster metadata leader" "$work"/nats*/log 2>/dev/null && return
    sleep 0.2
  done
  echo "the NATS cluster elected no JetStream leader within 20 s"; tail -5 "$work"/nats*/log; exit 1
}

# launch NAME ARGS...: a broker (Release build) with its own data dir; sets port_NAME, pid_NAME.
launch() {
  local name="$1" dir="$work/$1"
  shift
  mkdir -p "$dir"
  dotnet "$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll" \
    --Iot:Mqtt:Port=0 --Iot:Http:Port=0 --Iot:DataDir="$dir/data" --Iot:Security:AllowAnonymous=true \
    --Iot:PortsFile="$dir/ports.json" --Logging:LogLevel:Default=Warning "$@" >"$dir/broker.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do
    [[ -s "$dir/ports.json" ]] && break
    kill -0 "$pid" 2>/dev/null || { echo "broker $name exited:"; tail -20 "$dir/broker.log"; exit 1; }
    sleep 0.1
  done
  printf -v "port_$name" '%s' "$(json_port "$dir/ports.json" mqtt)"
  printf -v "pid_$name" '%s' "$pid"
}

start_mosquitto() {
  port_mosquitto="$(free_port)"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\n' "$port_mosquitto" >"$work/mosquitto.conf"
  /usr/sbin/mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
  pid_mosquitto=$!
  pids+=("$pid_mosquitto")
  for _ in $(seq 1 50); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' "$port_mosquitto" 2>/dev/null && return
    sleep 0.1
  done
  echo "Mosquitto did not listen within 5 s"; exit 1
}

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), .NET SDK $(dotnet --version), $(/usr/sbin/nats-server --version)"
echo "== $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ "${SKIP_BROKER_BUILD:-0}" != 1 ]]; then
  dotnet build "$root/src/Iot.Broker/Iot.Broker.csproj" -c Release -nologo -v q
fi
dotnet build "$root/bench/Iot.LoadTool/Iot.LoadTool.csproj" -c Release -nologo -v q
tool="$root/bench/Iot.LoadTool/bin/Release/net10.0/Iot.LoadTool.dll"

start_nats_cluster
# Node A knows only server 0 and node B only server 1 (each learns the others from the servers themselves), so the
# natskill scenario knows which server A's connections are on.
launch a --Iot:Cluster:Nats:Url="nats://127.0.0.1:${nats_client[0]}" --Iot:Cluster:NodeId=bench-a
launch b --Iot:Cluster:Nats:Url="nats://127.0.0.1:${nats_client[1]}" --Iot:Cluster:NodeId=bench-b
launch single
start_mosquitto
echo "NATS ${nats_client[*]}; node A $port_a, node B $port_b, single $port_single, Mosquitto $port_mosquitto"

results="${RESULTS:-$work/results.txt}"
: >"$results"

# run LABEL TARGET PUB_PORT SUB_PORT PID ARGS...: one scenario run, its result line tagged and kept.
run() {
  local label="$1" target="$2" pub="$3" sub="$4" pid="$5" line
  shift 5
  if line="$(timeout $((seconds * 3 + 120)) dotnet "$tool" "$@" --port "$pub" --sub-port "$sub" --broker-pid "$pid" 2>&1 | tail -1)"; then :; fi
  echo "round=$round label=$label target=$target $line" | tee -a "$results"
}

for round in $(seq 1 "$rounds"); do
  echo "== round $round (load $(cut -d' ' -f1-3 /proc/loadavg))"
  if has fanin0; then
    run fanin0 single "$port_single" "$port_single" "$pid_single" fanin --qos 0 --seconds "$seconds"
    run fanin0 cross "$port_a" "$port_b" "$pid_a" fanin --qos 0 --seconds "$seconds"
  fi
  if has fanin1; then
    run fanin1 single "$port_single" "$port_single" "$pid_single" fanin --qos 1 --seconds "$seconds"
    run fanin1 cross "$port_a" "$port_b" "$pid_a" fanin --qos 1 --seconds "$seconds"
    run fanin1 mosquitto "$port_mosquitto" "$port_mosquitto" "$pid_mosquitto" fanin --qos 1 --seconds "$seconds"
  fi
  if has latency; then
    run latency single "$port_single" "$port_single" "$pid_single" latency --rate 2000 --seconds "$seconds"
    run latency cross "$port_a" "$port_b" "$pid_a" latency --rate 2000 --seconds "$seconds"
  fi
done

if has natskill; then
  round=kill
  # Node A's first server goes down 2 s into the measured part of a cross-node latency run, then comes back.
  ( sleep 4; kill -9 "${nats_pid[0]}"; sleep 5; start_nats 0 ) &
  killer=$!
  run natskill cross "$port_a" "$port_b" "$pid_a" latency --rate 2000 --seconds 15
  wait "$killer" || true
fi

echo
echo "== medians over $rounds round(s), $(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" <<'EOF'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    rows.append(kv)
def med(label, target, key):
    vals = [float(r[key]) for r in rows if r.get("label") == label and r.get("target") == target and r.get(key, "NA") not in ("NA", "")]
    return statistics.median(vals) if vals else None
print("| Scenario | Metric | single node | cross-node (pub A, sub B) | Mosquitto |")
print("|---|---|---:|---:|---:|")
for label, title, metrics in [
    ("fanin0", "fan-in 50→1, QoS 0", [("msgs_per_s", "msg/s delivered"), ("broker_us_per_msg", "node A / broker CPU µs/msg")]),
    ("fanin1", "fan-in 50→1, QoS 1", [("msgs_per_s", "msg/s delivered"), ("broker_us_per_msg", "node A / broker CPU µs/msg")]),
    ("latency", "QoS 1 at 2000 msg/s", [("p50_us", "p50 µs"), ("p99_us", "p99 µs"), ("p999_us", "p99.9 µs"), ("lost", "lost")]),
    ("natskill", "QoS 1 at 2000 msg/s, node A's NATS server killed", [("max_us", "max latency µs (the pause)"), ("lost", "lost")]),
]:
    for key, name in metrics:
        cells = []
        for target in ("single", "cross", "mosquitto"):
            v = med(label, target, key)
            cells.append("" if v is None else f"{v:.2f}" if key == "broker_us_per_msg" else f"{v:,.0f}")
        if any(cells):
            print(f"| {title} | {name} | " + " | ".join(cells) + " |")
EOF
