#!/usr/bin/env python3
"""What one small synced write costs on a directory's file system, by how the file is laid out.

Usage: fsync_probe.py [DIR] [ROUNDS]   (DIR defaults to ., ROUNDS to 3000)

Each mode writes 200-byte records with write + fdatasync and prints p50 / mean / p99:
  append      the file grows with every write (size committed by each fdatasync)
  keepsize    preallocated with FALLOC_FL_KEEP_SIZE, still growing (RocksDB's default WAL)
  fallocate   preallocated with its size: writes land inside the file (rstmdbd's WAL)
  overwrite   a written, synced file overwritten from the start
docs/decisions.md (issue 10) says what the numbers meant for the write-ahead log.
"""
import ctypes
import os
import statistics
import sys
import time

RECORD = b"x" * 200
PREALLOCATED = 4 << 20
FALLOC_FL_KEEP_SIZE = 1


def prepare(fd, mode):
    if mode == "overwrite":
        os.write(fd, b"\0" * PREALLOCATED)
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
    elif mode == "fallocate":
        os.posix_fallocate(fd, 0, PREALLOCATED)
        os.fsync(fd)
    elif mode == "keepsize":
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.fallocate(fd, FALLOC_FL_KEEP_SIZE, ctypes.c_long(0), ctypes.c_long(PREALLOCATED)) != 0:
            raise OSError(ctypes.get_errno(), "fallocate(FALLOC_FL_KEEP_SIZE)")
        os.fsync(fd)


def run(directory, mode, rounds):
    path = os.path.join(directory, f".fsync_probe_{mode}.tmp")
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o600)
    try:
        prepare(fd, mode)
        latencies = []
        for _ in range(rounds):
            start = time.perf_counter_ns()
            os.write(fd, RECORD)
            os.fdatasync(fd)
            latencies.append((time.perf_counter_ns() - start) / 1e3)
    finally:
        os.close(fd)
        os.unlink(path)
    latencies.sort()
    print(f"{mode:<10} p50 {latencies[len(latencies) // 2]:7.1f} us  mean {statistics.mean(latencies):7.1f} us"
          f"  p99 {latencies[int(len(latencies) * 0.99)]:7.1f} us")


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "."
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    if rounds < 100 or rounds > 100000:
        sys.exit("ROUNDS must be between 100 and 100000")
    for mode in ("append", "keepsize", "fallocate", "overwrite"):
        run(directory, mode, rounds)


if __name__ == "__main__":
    main()
