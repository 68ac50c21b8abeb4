#!/usr/bin/env python3
"""Medians and ratios of bench/compare-all.sh result lines, as a markdown table (usage: compare-table.py RESULTS)."""
import statistics
import sys

rows = []
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    if "label" in kv and "failed" not in line:
        rows.append(kv)


def median(label, broker, key):
    vals = []
    for r in rows:
        if r["label"] == label and r["broker"] == broker and r.get(key, "NA") != "NA":
            vals.append(float(r[key]))
    return (statistics.median(vals), len(vals)) if vals else (float("nan"), 0)


# (label, title, metric key, metric name, format, goal) where goal is (op, threshold) on ours/mosquitto, or None.
table = [
    ("fanin0", "fan-in 50→1, QoS 0", "msgs_per_s", "msg/s delivered", "{:,.0f}", (">=", 1.5)),
    ("fanin0", "fan-in 50→1, QoS 0", "broker_us_per_msg", "broker CPU µs/msg", "{:.2f}", ("<=", 1.0)),
    ("fanin0", "fan-in 50→1, QoS 0", "tool_cpu_pct", "tool CPU %", "{:.0f}", None),
    ("fanin1", "fan-in 50→1, QoS 1", "msgs_per_s", "msg/s delivered", "{:,.0f}", (">=", 1.5)),
    ("fanin1", "fan-in 50→1, QoS 1", "broker_us_per_msg", "broker CPU µs/msg", "{:.2f}", ("<=", 1.0)),
    ("fanin1", "fan-in 50→1, QoS 1", "tool_cpu_pct", "tool CPU %", "{:.0f}", None),
    ("telemetry", "telemetry fan-in 50→1, QoS 1 (32 unacked, 20 in flight each)", "msgs_per_s", "msg/s delivered", "{:,.0f}", (">=", 1.5)),
    ("telemetry", "telemetry fan-in 50→1, QoS 1 (32 unacked, 20 in flight each)", "broker_us_per_msg", "broker CPU µs/msg", "{:.2f}", ("<=", 1.0)),
    ("telemetry", "telemetry fan-in 50→1, QoS 1 (32 unacked, 20 in flight each)", "lost", "lost (sent − received)", "{:.0f}", None),
    ("telemetry", "telemetry fan-in 50→1, QoS 1 (32 unacked, 20 in flight each)", "tool_cpu_pct", "tool CPU %", "{:.0f}", None),
    ("telemetry5", "telemetry fan-in 50→1, QoS 1, MQTT 5 (subscriber Receive Maximum 65535)", "msgs_per_s", "msg/s delivered", "{:,.0f}", (">=", 1.5)),
    ("telemetry5", "telemetry fan-in 50→1, QoS 1, MQTT 5 (subscriber Receive Maximum 65535)", "broker_us_per_msg", "broker CPU µs/msg", "{:.2f}", ("<=", 1.0)),
    ("telemetry5", "telemetry fan-in 50→1, QoS 1, MQTT 5 (subscriber Receive Maximum 65535)", "lost", "lost (sent − received)", "{:.0f}", None),
    ("telemetry5", "telemetry fan-in 50→1, QoS 1, MQTT 5 (subscriber Receive Maximum 65535)", "tool_cpu_pct", "tool CPU %", "{:.0f}", None),
    ("fanout", "fan-out 1→100, QoS 0", "msgs_per_s", "msg/s delivered", "{:,.0f}", (">=", 1.5)),
    ("fanout", "fan-out 1→100, QoS 0", "broker_us_per_msg", "broker CPU µs/msg", "{:.2f}", ("<=", 1.0)),
    ("fanout", "fan-out 1→100, QoS 0", "tool_cpu_pct", "tool CPU %", "{:.0f}", None),
    ("latency", "latency QoS 1 @ 2000 msg/s", "p50_us", "p50 µs", "{:,.0f}", None),
    ("latency", "latency QoS 1 @ 2000 msg/s", "p99_us", "p99 µs", "{:,.0f}", ("<=", 1.0)),
    ("latency", "latency QoS 1 @ 2000 msg/s", "p999_us", "p99.9 µs", "{:,.0f}", None),
    ("latency", "latency QoS 1 @ 2000 msg/s", "broker_cpu_pct", "broker CPU %", "{:.1f}", None),
    ("latency", "latency QoS 1 @ 2000 msg/s", "tool_cpu_pct", "tool CPU %", "{:.0f}", None),
    ("stream", "telemetry QoS 1, 50 devices (ours: durable stream)", "msgs_per_s", "PUBACK/s", "{:,.0f}", (">=", 1.0)),
    ("stream", "telemetry QoS 1, 50 devices (ours: durable stream)", "broker_us_per_msg", "broker CPU µs/msg", "{:.2f}", None),
    ("stream", "telemetry QoS 1, 50 devices (ours: durable stream)", "tool_cpu_pct", "tool CPU %", "{:.0f}", None),
    ("slow0", "slow consumer, QoS 0", "msgs_per_s", "fast subscriber msg/s", "{:,.0f}", None),
    ("slow0", "slow consumer, QoS 0", "kept_ratio", "fast rate kept (with/without slow)", "{:.2f}", None),
    ("slow0", "slow consumer, QoS 0", "slowest_1s_msgs_per_s", "slowest second, msg/s", "{:,.0f}", None),
    ("slow0", "slow consumer, QoS 0", "rss_growth_kb", "broker RSS growth kB", "{:,.0f}", None),
    ("slow0", "slow consumer, QoS 0", "broker_dropped", "dropped by the broker (its own count)", "{:,.0f}", None),
    ("slow1", "slow consumer, QoS 1", "msgs_per_s", "fast subscriber msg/s", "{:,.0f}", None),
    ("slow1", "slow consumer, QoS 1", "kept_ratio", "fast rate kept (with/without slow)", "{:.2f}", None),
    ("slow1", "slow consumer, QoS 1", "slowest_1s_msgs_per_s", "slowest second, msg/s", "{:,.0f}", None),
    ("slow1", "slow consumer, QoS 1", "rss_growth_kb", "broker RSS growth kB", "{:,.0f}", None),
    ("slow1", "slow consumer, QoS 1", "broker_dropped", "dropped by the broker (its own count)", "{:,.0f}", None),
    ("retained", "retained", "msgs_per_s", "retained publishes/s (QoS 1 acked)", "{:,.0f}", None),
    ("retained", "retained", "wildcard_received", "retained received on `#`", "{:,.0f}", None),
    ("retained", "retained", "wildcard_ms", "subscribe `#` → last retained, ms", "{:,.0f}", None),
    ("retained", "retained", "narrow_received", "retained received on `42/+`", "{:,.0f}", None),
    ("retained", "retained", "narrow_ms", "subscribe `42/+` → last retained, ms", "{:,.1f}", None),
    ("retained", "retained", "bytes_per_retained", "broker RSS per retained message, B", "{:,.0f}", None),
]
idle_labels = sorted({r["label"] for r in rows if r["label"].startswith("idle")}, key=lambda l: int(l[4:]))
for label in idle_labels:
    title = f"{int(label[4:]):,} idle connections"
    table += [
        (label, title, "bytes_per_conn_connected", "broker RSS per connection right after connecting, B", "{:,.0f}", None),
        (label, title, "bytes_per_conn", "broker RSS per connection once settled, B", "{:,.0f}", None),
        (label, title, "connects_per_s", "connects/s (CONNECT→CONNACK)", "{:,.0f}", None),
        (label, title, "connect_p99_ms", "connect p99 ms", "{:.1f}", None),
        (label, title, "dropped", "dropped during the hold", "{:.0f}", None),
    ]

# With VARIANT_ENV/VARIANT_DLL, compare-all.sh also ran a second instance of our broker: two more columns.
variant = any(r["broker"] == "variant" for r in rows)
extra_head, extra_rule = (" Variant | Variant / Mosquitto |", "---:|---:|") if variant else ("", "")
print(f"| Scenario | Metric | Iot broker | Mosquitto | Ours / Mosquitto |{extra_head} Goal |")
print(f"|---|---|---:|---:|---:|{extra_rule}---|")
present = {r["label"] for r in rows}
for label, title, key, name, fmt, goal in table:
    if label not in present:
        continue
    (o, n_o), (m, n_m) = median(label, "ours", key), median(label, "mosquitto", key)
    ratio = o / m if m == m and m and o == o else float("nan")
    goal_text = ""
    if goal and ratio == ratio:
        op, threshold = goal
        ok = ratio >= threshold if op == ">=" else ratio <= threshold
        goal_text = f"{op} {threshold}: {'holds' if ok else 'MISSED'}"
    ours_text = fmt.format(o) if o == o else "NA"
    mosq_text = fmt.format(m) if m == m else "NA"
    extra = ""
    if variant:
        v, _ = median(label, "variant", key)
        v_ratio = v / m if m == m and m and v == v else float("nan")
        extra = f" {fmt.format(v) if v == v else 'NA'} | {'{:.2f}'.format(v_ratio) if v_ratio == v_ratio else 'n/a'} |"
    print(f"| {title} | {name} | {ours_text} | {mosq_text} | {'{:.2f}'.format(ratio) if ratio == ratio else 'n/a'} |{extra} {goal_text} |")

for label in idle_labels:
    o, _ = median(label, "ours", "bytes_per_conn")
    if o == o:
        print(f"\n{label[4:]} idle: ours {o:,.0f} B per connection → goal ≤ 2 kB: {'holds' if o <= 2048 else 'MISSED'}; "
              f"100 000 connections would take about {o * 100000 / 2**20:,.0f} MiB on top of the baseline (extrapolated).")

notes = []
for r in rows:
    bad = {k: r[k] for k in ("errors", "lost", "stalls", "malformed", "dropped", "duplicates") if r.get(k, "0") not in ("0", "NA")}
    if bad:
        notes.append(f"note: round {r['round']} {r['broker']} {r['label']}: " + " ".join(f"{k}={v}" for k, v in bad.items()))
print()
print("\n".join(notes) if notes else "All runs: 0 errors, 0 malformed, 0 lost, 0 stalls, 0 dropped.")
