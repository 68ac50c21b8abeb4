#!/usr/bin/env python3
"""QoS 1 latency at a fixed rate: one publisher, one subscriber (QoS 1, acks every delivery), MQTT 3.1.1.
usage: latency-probe.py PORT RATE SECONDS -> p50/p99/max of publish-to-delivery in ms."""
import socket, struct, sys, threading, time
port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def varint(n):
    out = bytearray()
    while True:
        b = n % 128; n //= 128
        out.append(b | 0x80 if n else b)
        if not n: return bytes(out)
def packet(h, body): return bytes([h]) + varint(len(body)) + body
def s16(s): b = s.encode(); return struct.pack(">H", len(b)) + b
def connect(cid):
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(packet(0x10, s16("MQTT") + b"\x04\x02\x00\x3c" + s16(cid)))
    assert s.recv(4)[0] == 0x20
    return s
def read_packets(s):
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: return
        buf += chunk
        while True:
            if len(buf) < 2: break
            n = 0; mult = 1; i = 1
            while True:
                if i >= len(buf): n = None; break
                b = buf[i]; n += (b & 0x7F) * mult; mult *= 128; i += 1
                if not b & 0x80: break
            if n is None or len(buf) < i + n: break
            yield buf[0], buf[i:i+n]; buf = buf[i+n:]
topic = "bench/latency/%d" % time.time_ns()
sub = connect("lat-sub-%d" % time.time_ns())
sub.sendall(packet(0x82, b"\x00\x01" + s16(topic) + b"\x01"))
lat = []; done = threading.Event(); warm = 1.0
def subscriber():
    it = read_packets(sub)
    h, _ = next(it); assert h >> 4 == 9
    done.set()
    for h, body in it:
        if h >> 4 != 3: continue
        tl = struct.unpack(">H", body[:2])[0]
        pid = body[2+tl:4+tl]
        sent = struct.unpack(">q", body[4+tl:12+tl])[0]
        lat.append((time.perf_counter_ns() - sent) / 1e6)
        sub.sendall(b"\x40\x02" + pid)
threading.Thread(target=subscriber, daemon=True).start()
done.wait(10)
pub = connect("lat-pub-%d" % time.time_ns())
def drain():
    for _ in read_packets(pub): pass
threading.Thread(target=drain, daemon=True).start()
interval = 1.0 / rate; start = time.perf_counter(); i = 0
while True:
    due = start + i * interval
    now = time.perf_counter()
    if now - start > seconds + warm: break
    if due > now: time.sleep(due - now)
    pid = (i % 65535) + 1
    pub.sendall(packet(0x32, s16(topic) + struct.pack(">H", pid) + struct.pack(">q", time.perf_counter_ns()) + bytes(56)))
    i += 1
time.sleep(0.5)
skip = int(rate * warm)
v = sorted(lat[skip:])
q = lambda p: v[min(len(v)-1, int(p * len(v)))]
print(f"rate={rate} sent={i} received={len(lat)} p50_ms={q(0.5):.3f} p99_ms={q(0.99):.3f} max_ms={v[-1]:.3f}")
