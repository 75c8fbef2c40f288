#!/usr/bin/python3
"""Small servers of the fleetcap lab for protocols Debian's daemons would not serve without taking over the host
(an MTA, an NTP daemon) or that need an application behind nginx (WebSocket). They run inside the fcl-server
namespace only, each bound to the addresses it is given (lab/services.sh starts them).

  labservers.py smtp --listen ADDR:PORT[:starttls|:tls]... --maildir DIR --user NAME --password PW --cert C --key K
  labservers.py ntp --listen ADDR...
  labservers.py ws --port PORT         (127.0.0.1 only; nginx proxies /ws/ to it)

Runs on Debian's /usr/bin/python3, whose packages (python3-aiosmtpd, python3-websockets) setup.sh installs."""

import argparse
import asyncio
import json
import mailbox
import os
import pwd
import random
import socket
import ssl
import struct
import sys
import time


# ------------------------------------------------------------------ SMTP (aiosmtpd), delivering to a Maildir


def run_smtp(args):
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    class Deliver:
        """Accepts mail for anyone at lab.test and files it in the lab user's Maildir, which dovecot serves."""

        def __init__(self, path):
            self.box = mailbox.Maildir(path, create=True)

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if not address.lower().endswith("@lab.test"):
                return "550 5.7.1 relaying denied"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            self.box.add(envelope.original_content or envelope.content)
            return "250 2.0.0 Ok: queued"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == args.user
              and auth_data.password.decode() == args.password)
        return AuthResult(success=ok, handled=False)

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    user = pwd.getpwnam(args.user)
    handler = Deliver(args.maildir)
    os.chown(args.maildir, user.pw_uid, user.pw_gid)
    for sub in ("cur", "new", "tmp"):
        os.chown(os.path.join(args.maildir, sub), user.pw_uid, user.pw_gid)

    async def serve():
        loop = asyncio.get_running_loop()
        for spec in args.listen:
            host, port, *mode = spec.split(":")
            implicit = mode == ["tls"]

            def factory(starttls=(mode == ["starttls"])):
                return SMTP(handler, hostname="mail.lab.test", ident="lab ESMTP",
                            tls_context=tls if starttls else None, auth_require_tls=False,
                            authenticator=authenticator, timeout=60)

            await loop.create_server(factory, host, int(port), ssl=tls if implicit else None, reuse_address=True)
        # bound to the privileged ports: deliver as the mailbox's owner from here on
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
        print(f"smtp on {' '.join(args.listen)}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


# ------------------------------------------------------------------ SNTP (RFC 4330 server side)

NTP_EPOCH = 2208988800  # 1900-01-01 to 1970-01-01


def ntp_ts(t):
    secs = int(t)
    return struct.pack("!II", (secs + NTP_EPOCH) & 0xFFFFFFFF, int((t - secs) * (1 << 32)) & 0xFFFFFFFF)


def run_ntp(args):
    import selectors

    sel = selectors.DefaultSelector()
    for host in args.listen:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((host, args.port))
        sel.register(s, selectors.EVENT_READ)
    print(f"ntp on {' '.join(args.listen)} port {args.port}", flush=True)
    ref = time.time() - 37  # as if the last upstream sync was half a minute ago
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            try:
                data, peer = s.recvfrom(512)
            except OSError:
                continue
            received = time.time()
            if len(data) < 48:
                continue
            version = (data[0] >> 3) & 7
            if data[0] & 7 != 3:  # only client requests
                continue
            reply = bytes([(0 << 6) | (version << 3) | 4, 2, data[2], 0xEC])  # stratum 2, poll echoed, 2^-20 s
            reply += struct.pack("!II", 0x00000200 + random.randint(0, 255), 0x00000400)  # root delay, dispersion
            reply += socket.inet_aton("10.77.0.1")  # reference id: the (pretend) upstream server
            reply += ntp_ts(ref) + data[40:48] + ntp_ts(received) + ntp_ts(time.time())
            s.sendto(reply, peer)


# ------------------------------------------------------------------ WebSocket (behind nginx's /ws/)


def run_ws(args):
    import websockets

    async def session(ws, path):
        """Echoes what the client sends; a client that says "subscribe N" also gets N pushed updates."""
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith("subscribe"):
                n = int((msg.split() + ["5"])[1])
                for i in range(min(n, 200)):
                    await ws.send(json.dumps({"seq": i, "t": time.time(), "price": round(random.uniform(10, 99), 2)}))
                    await asyncio.sleep(random.uniform(0.05, 1.5))
            else:
                await ws.send(msg)

    async def serve():
        async with websockets.serve(session, "127.0.0.1", args.port, ping_interval=10, ping_timeout=10):
            print(f"ws on 127.0.0.1:{args.port}", flush=True)
            await asyncio.Event().wait()

    asyncio.run(serve())


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("smtp")
    p.add_argument("--listen", nargs="+", required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p = sub.add_parser("ntp")
    p.add_argument("--listen", nargs="+", required=True)
    p.add_argument("--port", type=int, default=123)
    p = sub.add_parser("ws")
    p.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    {"smtp": run_smtp, "ntp": run_ntp, "ws": run_ws}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
