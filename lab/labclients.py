#!/usr/bin/python3
"""Benign clients of the fleetcap lab for behaviour the command-line tools do not have: a browser that keeps one
connection alive across pages with reading time between them, a WebSocket app, mail clients that stay logged in.
Each is the standard library's (or python3-websockets') real protocol implementation, bound to a given source
address; lab/benign.sh calls them with a seed so that a run's choices repeat. TLS clients accept the lab's
self-signed certificate.

  labclients.py browse --src A --url BASE [--pages N] [--think LO HI] [--seed S]
  labclients.py ws --src A --url WSURL [--messages N] [--think LO HI] [--subscribe N] [--seed S]
  labclients.py imap --src A --host H --port P [--tls] --user U --password PW [--idle S] [--seed S]
  labclients.py pop3 --src A --host H --port P [--tls] --user U --password PW [--seed S]
  labclients.py smtp --src A --host H --port P [--starttls|--tls] [--auth U PW] [--messages N] [--seed S]"""

import argparse
import asyncio
import http.client
import imaplib
import poplib
import random
import re
import smtplib
import socket
import ssl
import sys
import time
from email.message import EmailMessage
from urllib.parse import urljoin, urlsplit

UAS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 13_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15",
]


def insecure_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def think(rng, lo, hi):
    time.sleep(rng.uniform(lo, hi))


# ------------------------------------------------------------------ a browser on one keep-alive connection


def browse(args, rng):
    base = urlsplit(args.url)
    port = base.port or (443 if base.scheme == "https" else 80)
    if base.scheme == "https":
        conn = http.client.HTTPSConnection(base.hostname, port, timeout=10, source_address=(args.src, 0),
                                           context=insecure_tls())
    else:
        conn = http.client.HTTPConnection(base.hostname, port, timeout=10, source_address=(args.src, 0))
    headers = {
        "User-Agent": rng.choice(UAS),
        "Accept-Language": rng.choice(["en-US,en;q=0.9", "de-DE,de;q=0.8,en;q=0.5", "fr-FR,fr;q=0.9"]),
        "Accept-Encoding": "identity",
        "Connection": "keep-alive",
    }
    cookie = None

    def get(path, accept="*/*", referer=None):
        nonlocal cookie
        h = dict(headers, Accept=accept)
        if referer:
            h["Referer"] = referer
        if cookie:
            h["Cookie"] = cookie
        conn.request("GET", path, headers=h)
        r = conn.getresponse()
        body = r.read()
        if r.getheader("Set-Cookie"):
            cookie = r.getheader("Set-Cookie").split(";")[0]
        return r.status, body

    path = rng.choice(["/", "/docs/page%d.html" % rng.randint(1, 20)])
    for _ in range(args.pages):
        status, body = get(path, "text/html,application/xhtml+xml,*/*;q=0.8")
        page = urljoin(args.url, path)
        objs = re.findall(rb'(?:src|href)="(/static/[^"]+)"', body)
        # a browser fetches the page's objects before the reader starts; some are in its cache already
        for obj in objs:
            if rng.random() < 0.8:
                get(obj.decode(), "image/avif,image/webp,*/*" if obj.endswith(b".png") else "*/*", page)
        if rng.random() < 0.25:
            get("/api.json", "application/json", page)
        think(rng, *args.think)
        links = [m.decode() for m in re.findall(rb'href="(/docs/[^"]+|/files/blob-(?:1|4|16|64)k\.bin)"', body)]
        path = rng.choice(links) if links else "/docs/page%d.html" % rng.randint(1, 20)
    conn.close()


# ------------------------------------------------------------------ a WebSocket app


def ws(args, rng):
    import websockets

    async def session():
        kw = {"ssl": insecure_tls()} if args.url.startswith("wss:") else {}
        async with websockets.connect(args.url, local_addr=(args.src, 0), open_timeout=10, ping_interval=5,
                                      ping_timeout=10, user_agent_header=rng.choice(UAS), **kw) as c:
            if args.subscribe:
                await c.send(f"subscribe {args.subscribe}")
                for _ in range(args.subscribe):
                    await asyncio.wait_for(c.recv(), 10)
            for i in range(args.messages):
                await c.send('{"type":"chat","id":%d,"text":"%s"}' % (i, "x" * rng.randint(4, 300)))
                await asyncio.wait_for(c.recv(), 10)
                await asyncio.sleep(rng.uniform(*args.think))

    asyncio.run(session())


# ------------------------------------------------------------------ mail clients


def bound(cls, src):
    """The stdlib IMAP/POP3 classes take no source address; their socket factory does."""

    class Bound(cls):
        def _create_socket(self, timeout):
            sock = socket.create_connection((self.host, self.port), timeout, source_address=(src, 0))
            if isinstance(self, imaplib.IMAP4_SSL):
                return self.ssl_context.wrap_socket(sock, server_hostname=self.host)
            if isinstance(self, poplib.POP3_SSL):
                return self.context.wrap_socket(sock, server_hostname=self.host)
            return sock

    return Bound


def imap(args, rng):
    if args.tls:
        c = bound(imaplib.IMAP4_SSL, args.src)(args.host, args.port, ssl_context=insecure_tls(), timeout=10)
    else:
        c = bound(imaplib.IMAP4, args.src)(args.host, args.port, timeout=10)
    c.login(args.user, args.password)
    c.list()
    typ, data = c.select("INBOX")
    n = int(data[0] or 0)
    _, ids = c.search(None, "ALL")
    ids = ids[0].split()
    for mid in rng.sample(ids, min(len(ids), rng.randint(0, 4))):
        c.fetch(mid, "(FLAGS BODY.PEEK[HEADER])" if rng.random() < 0.5 else "(RFC822)")
        think(rng, 0.2, 1.5)
    # a mail client left open: it polls now and then and otherwise idles on the connection
    end = time.time() + args.idle
    while time.time() < end:
        time.sleep(min(rng.uniform(5, 15), max(0.0, end - time.time())))
        c.noop()
    if n and rng.random() < 0.3:
        c.store(ids[-1], "+FLAGS", "\\Seen")
    c.logout()


def pop3(args, rng):
    if args.tls:
        c = bound(poplib.POP3_SSL, args.src)(args.host, args.port, context=insecure_tls(), timeout=10)
    else:
        c = bound(poplib.POP3, args.src)(args.host, args.port, timeout=10)
    c.user(args.user)
    c.pass_(args.password)
    count, _ = c.stat()
    c.list()
    for i in rng.sample(range(1, count + 1), min(count, rng.randint(0, 3))):
        c.retr(i)
        think(rng, 0.1, 0.8)
    c.quit()


def smtp(args, rng):
    kw = {"timeout": 10, "source_address": (args.src, 0), "local_hostname": f"ws{rng.randint(1, 99)}.lab.test"}
    if args.tls:
        c = smtplib.SMTP_SSL(args.host, args.port, context=insecure_tls(), **kw)
    else:
        c = smtplib.SMTP(args.host, args.port, **kw)
    c.ehlo()
    if args.starttls:
        c.starttls(context=insecure_tls())
        c.ehlo()
    if args.auth:
        c.login(*args.auth)
    for i in range(args.messages):
        m = EmailMessage()
        m["From"] = f"user{rng.randint(1, 40)}@lab.test"
        m["To"] = rng.choice(["labuser@lab.test", "team@lab.test", "ops@lab.test"])
        m["Subject"] = rng.choice(["weekly report", "re: meeting", "invoice", "build failed", "lunch?"])
        m.set_content("\n".join("line %d %s" % (j, "lorem ipsum " * rng.randint(1, 12)) for j in range(rng.randint(3, 80))))
        if rng.random() < 0.2:
            m.add_attachment(rng.randbytes(rng.randint(2000, 200000)), maintype="application", subtype="octet-stream",
                             filename="report.bin")
        c.send_message(m)
        think(rng, 0.1, 1.0)
    c.quit()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--src", required=True)
    common.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("browse", parents=[common])
    p.add_argument("--url", required=True)
    p.add_argument("--pages", type=int, default=3)
    p.add_argument("--think", type=float, nargs=2, default=(0.5, 4.0))
    p = sub.add_parser("ws", parents=[common])
    p.add_argument("--url", required=True)
    p.add_argument("--messages", type=int, default=5)
    p.add_argument("--subscribe", type=int, default=0)
    p.add_argument("--think", type=float, nargs=2, default=(0.2, 2.0))
    for name in ("imap", "pop3", "smtp"):
        p = sub.add_parser(name, parents=[common])
        p.add_argument("--host", required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--tls", action="store_true")
        if name == "smtp":
            p.add_argument("--starttls", action="store_true")
            p.add_argument("--auth", nargs=2)
            p.add_argument("--messages", type=int, default=1)
        else:
            p.add_argument("--user", required=True)
            p.add_argument("--password", required=True)
        if name == "imap":
            p.add_argument("--idle", type=float, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    try:
        {"browse": browse, "ws": ws, "imap": imap, "pop3": pop3, "smtp": smtp}[args.cmd](args, rng)
    except (OSError, EOFError, imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException, asyncio.TimeoutError,
            http.client.HTTPException) as e:
        # a client that fails (a lost connection on a lossy link) fails as a user's would; the run goes on
        print(f"labclients {args.cmd}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
