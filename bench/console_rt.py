#!/usr/bin/env python3
"""console_rt.py SOCKET — round trips of console chunks on one connection to
a running engine (newline-delimited JSON, as baton console speaks it): prints
the mean microseconds per chunk for `1+1` and for `jobs()`."""
import json
import socket
import sys
import time

sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
f = sock.makefile("rwb")


def roundtrip(chunk):
    f.write((json.dumps({"chunk": chunk}) + "\n").encode())
    f.flush()
    reply = json.loads(f.readline())
    if not reply.get("ok"):
        sys.exit("console: " + reply.get("error", "?"))


roundtrip("1")
out = []
for chunk, n in (("1+1", 2000), ("jobs()", 200)):
    t0 = time.perf_counter()
    for _ in range(n):
        roundtrip(chunk)
    out.append("%s %.1f" % (chunk, (time.perf_counter() - t0) / n * 1e6))
print(" ".join(out))
