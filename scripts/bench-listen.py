#!/usr/bin/env python3
"""Listeners for scripts/bench.sh: bind ADDR:PORT for every port given, accept and close forever.

Accepting matters: a connection the scanner resets still occupies the listen backlog until it
is accepted, and the top100 scenario makes 256 connections per port per run, so a listener
that never accepted would start dropping SYNs (the port would look filtered) after a few runs.

usage: bench-listen.py ADDR PORT[,PORT...]   (prints "ready" once every port listens)
"""
import selectors
import socket
import sys


def main() -> int:
    addr = sys.argv[1]
    ports = [int(p) for p in sys.argv[2].split(",") if p]
    sel = selectors.DefaultSelector()
    socks = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            listener = key.fileobj
            while True:
                try:
                    conn, _ = listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                conn.close()


if __name__ == "__main__":
    sys.exit(main())
