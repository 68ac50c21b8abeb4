#!/usr/bin/env bash
# Side-by-side load figures: the Iot broker vs Mosquitto, same load tool, alternating runs.
# Usage: bash bench/compare.sh   (env: SECONDS_PER_RUN=10 ROUNDS=2;
#        SKIP_BROKER_BUILD=1 reuses the last Release build of the broker, e.g. while the tree does not build)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${SECONDS_PER_RUN:-10}"
rounds="${ROUNDS:-2}"
work="$(mktemp -d)"
ours_pid=""
mosq_pid=""

cleanup() {
  [[ -n "$ours_pid" ]] && kill "$ours_pid" 2>/dev/null && wait "$ours_pid" 2>/dev/null || true
  [[ -n "$mosq_pid" ]] && kill "$mosq_pid" 2>/dev/null && wait "$mosq_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== build (Release)"
if [[ "${SKIP_BROKER_BUILD:-0}" == 1 ]]; then
  echo "SKIP_BROKER_BUILD=1: reusing $(ls -l --time-style=+%FT%T "$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll" | awk '{print $6}') build"
else
  dotnet build "$root/src/Iot.Broker/Iot.Broker.csproj" -c Release -nologo -v q
fi
dotnet build "$root/bench/Iot.LoadTool/Iot.LoadTool.csproj" -c Release -nologo -v q
tool="$root/bench/Iot.LoadTool/bin/Release/net10.0/Iot.LoadTool.dll"

echo "== start Iot broker"
ports="$work/ports.json"
dotnet "$root/src/Iot.Broker/bin/Release/net10.0/Iot.Broker.dll" \
  --Iot:Mqtt:Port=0 --Iot:Http:Port=0 --Iot:DataDir="$(mktemp -d -p "$work")" \
  --Iot:Security:AllowAnonymous=true --Iot:PortsFile="$ports" \
  --Logging:LogLevel:Default=Warning >"$work/ours.log" 2>&1 &
ours_pid=$!
for _ in $(seq 1 300); do
  [[ -s "$ports" ]] && break
  kill -0 "$ours_pid" 2>/dev/null || { echo "Iot broker exited:"; cat "$work/ours.log"; exit 1; }
  sleep 0.1
done
[[ -s "$ports" ]] || { echo "Iot broker did not write $ports within 30 s"; exit 1; }
ours_port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mqtt"])' "$ports")"

echo "== start Mosquitto"
mosq_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mosq_port" >"$work/mosquitto.conf"
/usr/sbin/mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
mosq_pid=$!
for _ in $(seq 1 50); do
  python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' "$mosq_port" 2>/dev/null && break
  sleep 0.1
done
echo "ours: port $ours_port pid $ours_pid; mosquitto: port $mosq_port pid $mosq_pid; $seconds s per run, $rounds rounds"

scenarios=("fanin --qos 0" "fanin --qos 1" "fanout --qos 0")
results="$work/results.txt"
: >"$results"
for round in $(seq 1 "$rounds"); do
  for scenario in "${scenarios[@]}"; do
    for broker in ours mosquitto; do
      if [[ "$broker" == ours ]]; then port="$ours_port"; pid="$ours_pid"; else port="$mosq_port"; pid="$mosq_pid"; fi
      # shellcheck disable=SC2086 # the scenario string is deliberately split into arguments
      line="$(timeout $((seconds + 40)) dotnet "$tool" $scenario --port "$port" --seconds "$seconds" --broker-pid "$pid" || echo "failed rc=$?")"
      echo "round=$round broker=$broker $line" | tee -a "$results"
    done
  done
done

kill -0 "$ours_pid" 2>/dev/null || echo "WARNING: the Iot broker is no longer running"
kill -0 "$mosq_pid" 2>/dev/null || echo "WARNING: Mosquitto is no longer running"

echo
echo "== medians over $rounds rounds (msgs_per_s = deliveries/s at the subscribers; cpu_pct: 100 = one core)"
python3 - "$results" <<'PY'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    if "msgs_per_s" in kv:
        rows.append(kv)
def med(scen, qos, broker, key):
    vals = [float(r[key]) for r in rows if r["scenario"] == scen and r["qos"] == qos and r["broker"] == broker and r[key] != "NA"]
    return statistics.median(vals) if vals else float("nan")
hdr = "| Scenario | Metric | Iot broker | Mosquitto | Ours / Mosquitto |"
print(hdr); print("|---|---|---:|---:|---:|")
for scen, qos, label in [("fanin","0","fan-in 50→1, QoS 0"), ("fanin","1","fan-in 50→1, QoS 1"), ("fanout","0","fan-out 1→100, QoS 0")]:
    for key, name, fmt in [("msgs_per_s","msg/s delivered","{:,.0f}"), ("broker_cpu_pct","broker CPU %","{:.1f}"),
                           ("broker_us_per_msg","broker CPU µs/msg","{:.2f}"), ("tool_cpu_pct","tool CPU %","{:.1f}")]:
        o, m = med(scen, qos, "ours", key), med(scen, qos, "mosquitto", key)
        ratio = "{:.2f}".format(o / m) if m == m and m else "n/a"
        print(f"| {label} | {name} | {fmt.format(o)} | {fmt.format(m)} | {ratio} |")
bad = [r for r in rows if r.get("errors") != "0" or r.get("lost") != "0" or r.get("stalls") != "0" or r.get("malformed") != "0"]
for r in bad:
    print(f"note: round {r['round']} {r['broker']} {r['scenario']} qos{r['qos']}: errors={r['errors']} lost={r['lost']} stalls={r['stalls']} malformed={r['malformed']}")
PY
failed="$(grep -c 'failed rc=' "$results" || true)"
[[ "$failed" == 0 ]] || echo "WARNING: $failed run(s) failed, see the lines above"
