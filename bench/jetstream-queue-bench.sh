#!/usr/bin/env bash
# Issue 19: the cluster-mode queue store (JetStreamQueueStore) on one nats-server (R1) and on a three-server JetStream
# cluster (R3), in one run: send, then receive + complete, with concurrent senders and competing consumers
# (bench/Iot.QueueBench, mode jetstream). Every server on free loopback ports, stores in a temp directory.
# Usage: bash bench/jetstream-queue-bench.sh [messages=5000] [senders=16] [consumers=8]
# SKIP_BUILD=1 reuses the last Release build of bench/Iot.QueueBench.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
messages="${1:-5000}"; senders="${2:-16}"; consumers="${3:-8}"
work="$(mktemp -d)"; pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
[[ "${SKIP_BUILD:-}" == 1 ]] || dotnet build -c Release "$root/bench/Iot.QueueBench" >/dev/null
bench="$root/bench/Iot.QueueBench/bin/Release/net10.0/Iot.QueueBench.dll"

single="$(free_port)"
/usr/sbin/nats-server -js -a 127.0.0.1 -p "$single" -sd "$work/single" >"$work/single.log" 2>&1 & pids+=($!)
sleep 1
echo "== 1 server, R1"
dotnet "$bench" jetstream "$messages" "$senders" "$consumers" "nats://127.0.0.1:$single" 1

declare -a client route
for i in 0 1 2; do client[$i]="$(free_port)"; route[$i]="$(free_port)"; done
for i in 0 1 2; do
  routes=""; for j in 0 1 2; do [[ "$j" != "$i" ]] && routes+="nats://127.0.0.1:${route[$j]}, "; done
  cat >"$work/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${client[$i]}
jetstream { store_dir: "$work/n$i" }
cluster { name: iot-queue-bench, listen: 127.0.0.1:${route[$i]}, routes: [${routes%, }] }
CONF
  /usr/sbin/nats-server -c "$work/n$i.conf" >"$work/n$i.log" 2>&1 & pids+=($!)
done
for _ in $(seq 1 150); do grep -q "new JetStream cluster metadata leader\|Self is new JetStream cluster metadata leader" "$work"/n*.log && break; sleep 0.2; done
sleep 2
echo "== 3 servers, R3"
dotnet "$bench" jetstream "$messages" "$senders" "$consumers" "nats://127.0.0.1:${client[0]},nats://127.0.0.1:${client[1]},nats://127.0.0.1:${client[2]}" 3
