#!/usr/bin/env bash
# Issue 8: what an idle connection costs. Starts a Release broker on free ports, holds N idle connections with the
# load tool, takes a heap snapshot (dotnet-gcdump) during the hold and prints the RSS per connection (load tool) and
# the live managed objects per connection by type (types with at least 0.9 instances per connection, the 100 warm-up
# connections included).
# Usage: N=10000 bash bench/idle-profile.sh [extra broker settings, e.g. --Iot:Mqtt:Transport=socket]
# Needs dotnet-gcdump (dotnet tool install -g dotnet-gcdump).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
n="${N:-10000}"
gcdump="$(command -v dotnet-gcdump || echo "$HOME/.dotnet/tools/dotnet-gcdump")"
work="$(mktemp -d)"
trap 'kill "$broker" 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"
dotnet build "$root/src/Iot.Broker/Iot.Broker.csproj" -c Release -nologo -v q >/dev/null
dotnet build "$root/bench/Iot.LoadTool/Iot.LoadTool.csproj" -c Release -nologo -v q >/dev/null
dotnet "$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll" --Iot:Mqtt:Port=0 --Iot:Http:Port=0 \
  --Iot:DataDir="$work/data" --Iot:Security:AllowAnonymous=true --Iot:PortsFile="$work/ports.json" \
  --Logging:LogLevel:Default=Warning "$@" >"$work/broker.log" 2>&1 &
broker=$!
for _ in $(seq 1 300); do [[ -s "$work/ports.json" ]] && break; sleep 0.1; done
port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt"])' "$work/ports.json")"
dotnet "$root/bench/Iot.LoadTool/bin/Release/net10.0/Iot.LoadTool.dll" idle --connections "$n" --warm 100 --sources 64 \
  --concurrency 100 --keepalive 300 --settle 5 --hold 20 --port "$port" --broker-pid "$broker" >"$work/tool.out" 2>&1 &
tool=$!
sleep 22
"$gcdump" collect -p "$broker" -o "$work/heap.gcdump" >/dev/null
wait "$tool" || true
cat "$work/tool.out"
"$gcdump" report "$work/heap.gcdump" | awk -v n="$((n + 100))" '
  $1 ~ /^[0-9,]+$/ && $2 ~ /^[0-9,]+$/ {
    size = $1; count = $2; gsub(",", "", size); gsub(",", "", count); size += 0; count += 0
    if (count >= 0.9 * n) { $1 = ""; $2 = ""; per = size * count / n; total += per; printf "%7.0f B  %6d B x %7d %s\n", per, size, count, substr($0, 3) }
  }
  END { printf "%7.0f B  per connection in all\n", total }'
