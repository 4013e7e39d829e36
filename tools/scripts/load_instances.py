#!/usr/bin/env python3
"""Creates N instances quickly (for restart-time and RSS measurements).

Usage: load_instances.py HOST:PORT N [--batch 100] [--window 64]

Sends pipelined BATCH requests of CREATE_INSTANCE over JSONL (no CRC to compute in Python),
keeping --window batches in flight. Instance ids are "load-%08d".
"""
import argparse
import json
import socket
import time

MACHINE = {"states": ["s0", "s1", "s2", "s3", "s4"], "initial": "s0",
           "transitions": [{"from": "s%d" % i, "event": "NEXT", "to": "s%d" % ((i + 1) % 5)} for i in range(5)]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("count", type=int)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--window", type=int, default=64)
    args = ap.parse_args()
    host, port = args.server.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=60)
    reader = sock.makefile("rb")

    def send(obj):
        sock.sendall(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def recv():
        line = reader.readline()
        if not line:
            raise SystemExit("server closed the connection")
        msg = json.loads(line)
        if msg.get("status") != "ok":
            raise SystemExit("error: %r" % msg)
        return msg

    send({"type": "request", "id": "m", "op": "PUT_MACHINE",
          "params": {"machine": "load", "version": 1, "definition": MACHINE}})
    recv()
    started = time.monotonic()
    sent = received = 0
    batches = (args.count + args.batch - 1) // args.batch
    for b in range(batches):
        first = b * args.batch
        ops = [{"op": "CREATE_INSTANCE",
                "params": {"instance_id": "load-%08d" % i, "machine": "load", "version": 1,
                           "initial_ctx": {"n": i}}}
               for i in range(first, min(first + args.batch, args.count))]
        send({"type": "request", "id": str(b), "op": "BATCH", "params": {"mode": "atomic", "ops": ops}})
        sent += 1
        while sent - received >= args.window:
            recv()
            received += 1
    while received < sent:
        recv()
        received += 1
    elapsed = time.monotonic() - started
    print("created %d instances in %.1f s (%.0f/s)" % (args.count, elapsed, args.count / elapsed))


if __name__ == "__main__":
    main()
