#!/usr/bin/env bash
# Latency at a fixed rate against a freshly started Iot broker (Release build), after a 4 s unmeasured warm-up run:
# the load tool's result line with the broker's collections, their pause and bytes allocated per message.
# Usage: bash bench/latency-fresh.sh [broker settings...]   e.g. --Iot:Mqtt:EpollNice=5 or --Iot:Mqtt:CompactHeapAtStart=false
# Environment (defaults): SECS=20 RATE=2000 DUMP=path (every latency in sending order)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
broker="$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll"
tool="$root/bench/Iot.LoadTool/bin/Release/net10.0/Iot.LoadTool.dll"
[[ -f "$broker" ]] || dotnet build "$root/src/Iot.Broker/Iot.Broker.csproj" -c Release -nologo -v q
dotnet build "$root/bench/Iot.LoadTool/Iot.LoadTool.csproj" -c Release -nologo -v q >/dev/null
work="$(mktemp -d)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM

dotnet "$broker" --Iot:Mqtt:Port=0 --Iot:Http:Port=0 --Iot:DataDir="$work/data" --Iot:Security:AllowAnonymous=true \
  --Iot:PortsFile="$work/ports.json" --Logging:LogLevel:Default=Warning "$@" >"$work/broker.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do [[ -s "$work/ports.json" ]] && break; sleep 0.1; done
[[ -s "$work/ports.json" ]] || { echo "the broker did not start:"; cat "$work/broker.log"; exit 1; }
port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt"])' "$work/ports.json")"
http="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/ports.json")"

export DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0
dotnet "$tool" latency --rate "${RATE:-2000}" --seconds 3 --warmup 1 --port "$port" >/dev/null
dump=()
[[ -n "${DUMP:-}" ]] && dump=(--dump "$DUMP")
dotnet "$tool" latency --rate "${RATE:-2000}" --seconds "${SECS:-20}" --port "$port" --broker-pid "$pid" \
  --metrics-url "http://127.0.0.1:$http/metrics" "${dump[@]}"
