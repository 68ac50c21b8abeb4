#!/usr/bin/env bash
# Durable queue throughput, Iot (SQLite, WAL, synchronous=FULL) beside NATS JetStream (Debian nats-server, file
# storage) on the same machine and the same workload. Usage: bench/queue-compare.sh [messages] [senders] [consumers]
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-20000}; senders=${2:-16}; consumers=${3:-8}
dotnet build -c Release bench/Iot.QueueBench >/dev/null
bench=bench/Iot.QueueBench/bin/Release/net10.0/Iot.QueueBench.dll

dotnet "$bench" iot "$messages" "$senders" "$consumers"

store=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
nats-server -js -sd "$store" -a 127.0.0.1 -p "$port" >"$store/nats.log" 2>&1 &
nats=$!
trap 'kill $nats 2>/dev/null; wait $nats 2>/dev/null; rm -rf "$store"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
echo "nats-server $(nats-server --version | awk '{print $2}')"
dotnet "$bench" nats "$messages" "$senders" "$consumers" "nats://127.0.0.1:$port"
