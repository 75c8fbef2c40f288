#!/usr/bin/env python3
"""A wide-area link between two interfaces of the lab's switch namespace: every Ethernet frame that arrives on one
is sent out of the other after a delay, with jitter, random loss and an optional rate limit.

usage: wanlink.py --host-side IF --switch-side IF --conf FILE

This kernel has no netem (CONFIG_NET_SCH_NETEM is off), so the lab does in user space what `tc qdisc ... netem`
would: the host's veth ends in fcl-switch outside the bridge, and this process carries frames between it and a
second veth pair whose other end is the bridge port. FILE is JSON, read at start and again on SIGHUP:
  {"delay_ms": one-way delay, "jitter_ms": its standard deviation, "loss_pct": per frame and direction,
   "rate_mbit": 0 for none, "seed": for the loss and jitter draws}
After applying it, the process writes FILE.applied with the same content (lab/run.sh waits for that).
Frames keep their order in each direction (as on one path; netem's jitter would reorder them)."""

import argparse
import json
import os
import random
import select
import signal
import socket
import sys
import time
from collections import deque

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20+: a packet socket does not see the frames it (or anyone) sends
# A rate-limited direction drops frames beyond this much queued data, like a router's buffer.
QUEUE_LIMIT_BYTES = 256 * 1024
BATCH = 64


class Direction:
    def __init__(self, name, rx, tx):
        self.name = name
        self.rx = rx
        self.tx = tx
        self.queue = deque()  # (due, frame)
        self.last_due = 0.0
        self.queued_bytes = 0
        self.sent = self.lost = self.overflow = 0


class Link:
    def __init__(self, conf_file):
        self.conf_file = conf_file
        self.reload = True
        self.delay = self.jitter = self.loss = self.rate = 0.0
        self.rng = random.Random(0)

    def apply(self):
        self.reload = False
        try:
            with open(self.conf_file) as f:
                text = f.read()
            conf = json.loads(text) if text.strip() else {}
        except FileNotFoundError:
            text, conf = "{}", {}
        self.delay = max(0.0, float(conf.get("delay_ms", 0))) / 1000
        self.jitter = max(0.0, float(conf.get("jitter_ms", 0))) / 1000
        self.loss = min(100.0, max(0.0, float(conf.get("loss_pct", 0)))) / 100
        self.rate = max(0.0, float(conf.get("rate_mbit", 0))) * 1e6 / 8  # bytes per second
        self.rng = random.Random(conf.get("seed", 0))
        tmp = self.conf_file + ".applied.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf_file + ".applied")

    def shaped(self):
        return self.delay > 0 or self.jitter > 0 or self.rate > 0

    def due(self, d, now, size):
        """When a frame that arrived now leaves, or None if it is lost."""
        if self.loss and self.rng.random() < self.loss:
            d.lost += 1
            return None
        t = now + self.delay
        if self.jitter:
            t += self.rng.gauss(0.0, self.jitter)
        if self.rate:
            if d.queued_bytes + size > QUEUE_LIMIT_BYTES:
                d.overflow += 1
                return None
            # serialisation on the bottleneck: a frame leaves after the one before it has
            t = max(t, d.last_due + size / self.rate)
        t = max(t, now, d.last_due)  # one path: no reordering
        d.last_due = t
        return t


def packet_socket(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((ifname, 0))
    s.setblocking(False)
    return s


def send(d, frame):
    try:
        d.tx.send(frame)
        d.sent += 1
    except (BlockingIOError, OSError):
        d.overflow += 1  # the veth's queue is full: the frame is lost, as on a congested port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host-side", required=True)
    ap.add_argument("--switch-side", required=True)
    ap.add_argument("--conf", required=True)
    args = ap.parse_args()

    link = Link(args.conf)
    host = packet_socket(args.host_side)
    switch = packet_socket(args.switch_side)
    up = Direction("up", host, switch)
    down = Direction("down", switch, host)
    by_fd = {host.fileno(): up, switch.fileno(): down}

    def on_hup(*_):
        link.reload = True

    def on_term(*_):
        print(f"wanlink {args.host_side}: up sent {up.sent} lost {up.lost} overflow {up.overflow}; "
              f"down sent {down.sent} lost {down.lost} overflow {down.overflow}", file=sys.stderr, flush=True)
        os._exit(0)

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    # a signal wakes the poll below (Python would otherwise resume it), so SIGHUP applies at once
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    poller.register(wake_r, select.EPOLLIN)
    clock = time.monotonic

    while True:
        if link.reload:
            link.apply()
        now = clock()
        wait = -1
        for d in (up, down):
            if d.queue:
                w = d.queue[0][0] - now
                wait = max(0.0, w) if wait < 0 else min(wait, max(0.0, w))
        try:
            events = poller.poll(wait)
        except InterruptedError:
            continue
        now = clock()
        for fd, _ in events:
            if fd == wake_r:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
                continue
            d = by_fd[fd]
            for _ in range(BATCH):
                try:
                    frame = d.rx.recv(65535)
                except BlockingIOError:
                    break
                if not link.shaped() and not d.queue:
                    if not (link.loss and link.due(d, now, len(frame)) is None):
                        send(d, frame)
                    continue
                t = link.due(d, now, len(frame))
                if t is not None:
                    d.queue.append((t, frame))
                    d.queued_bytes += len(frame)
        now = clock()
        for d in (up, down):
            q = d.queue
            while q and q[0][0] <= now:
                _, frame = q.popleft()
                d.queued_bytes -= len(frame)
                send(d, frame)


if __name__ == "__main__":
    main()
