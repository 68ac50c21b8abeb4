#!/usr/bin/env python3
"""Opens N MQTT 3.1.1 connections (CONNECT, wait CONNACK), holds them, and reports the broker's VmRSS growth.
usage: idle-probe.py PORT N BROKER_PID [HOLD_SECONDS]   (run under `ulimit -n 20000`; N <= 19 500 here)"""
import os, socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1]) * 1024
def connect_packet(cid):
    cid = cid.encode()
    vh = b"\x00\x04MQTT\x04\x02\x00\x3c"  # v3.1.1, clean session, keep alive 60 s
    body = vh + len(cid).to_bytes(2, "big") + cid
    return bytes([0x10, len(body)]) + body
time.sleep(1)
before = rss(pid)
socks = []
t0 = time.time()
batch = 200
for start in range(0, n, batch):
    group = []
    for i in range(start, min(n, start + batch)):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(connect_packet(f"idle-{os.getpid()}-{i}"))
        group.append(s)
    for s in group:
        s.settimeout(30)
        data = b""
        while len(data) < 4:
            chunk = s.recv(4 - len(data))
            if not chunk: raise SystemExit(f"closed after {len(socks)}")
            data += chunk
        assert data[0] == 0x20 and data[3] == 0, data
    socks.extend(group)
time.sleep(5)
after = rss(pid)
print(f"connections={n} rss_before={before} rss_after={after} bytes_per_conn={(after-before)/n:.0f} seconds_to_open={time.time()-t0:.1f}", flush=True)
if len(sys.argv) > 4: time.sleep(float(sys.argv[4]))
