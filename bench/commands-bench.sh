#!/usr/bin/env bash
# Commands per second to connected MQTT devices through the real broker (Release build, fresh data directory).
# Usage: bench/commands-bench.sh [devices] [commands] [http callers]
set -euo pipefail
cd "$(dirname "$0")/.."
devices=${1:-1000}; commands=${2:-5000}; callers=${3:-64}
dotnet build -c Release src/Iot.Broker >/dev/null
dotnet build -c Release bench/Iot.QueueBench >/dev/null
data=$(mktemp -d)
dotnet src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll --Iot:Mqtt:Port=0 --Iot:Http:Port=0 --Iot:DataDir="$data" \
  --Iot:Security:AllowAnonymous=true --Iot:PortsFile="$data/ports.json" --Logging:LogLevel:Default=Warning >"$data/broker.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null; wait $broker 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 300); do [ -s "$data/ports.json" ] && break; sleep 0.1; done
mqtt=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt"])' "$data/ports.json")
http=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$data/ports.json")
dotnet bench/Iot.QueueBench/bin/Release/net10.0/Iot.QueueBench.dll commands "$devices" "$commands" "http://127.0.0.1:$http/" "$mqtt" "$callers"
