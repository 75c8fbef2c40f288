#!/usr/bin/env python3
"""A deliberately vulnerable web app for the fleetcap lab: a login form for hydra and an
SQL-injectable item page for sqlmap. It listens on 127.0.0.1 inside the fcl-server namespace
only and is reached through nginx, so it is never exposed beyond the lab. Do not reuse."""

import argparse
import html
import sqlite3
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DB_LOCK = threading.Lock()

PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<h1>{title}</h1>{body}
<p><a href="/app/login">login</a> | <a href="/app/item?id=1">items</a> |
<a href="/app/search?q=lamp">search</a></p></body></html>"""

LOGIN_FORM = """<form method="post" action="/app/login">
<input name="username"> <input name="password" type="password">
<input type="submit" value="Sign in"></form>"""


def init_db(path: str, password: str) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        """
        DROP TABLE IF EXISTS users; DROP TABLE IF EXISTS items;
        CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT, password TEXT, email TEXT);
        CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, note TEXT);
        """
    )
    con.executemany(
        "INSERT INTO users (username, password, email) VALUES (?, ?, ?)",
        [("admin", "Adm1n!2024x", "admin@lab.test"), ("labuser", password, "lab@lab.test"),
         ("alice", "wonderland7", "alice@lab.test"), ("bob", "builder42", "bob@lab.test")],
    )
    names = ["lamp", "desk", "chair", "cable", "router", "switch", "laptop", "phone", "mug", "pen"]
    con.executemany(
        "INSERT INTO items (name, price, note) VALUES (?, ?, ?)",
        [(n, 3.5 * (i + 1), f"{n} in stock") for i, n in enumerate(names)],
    )
    con.commit()
    con.close()


class Handler(BaseHTTPRequestHandler):
    server_version = "LabApp/0.1"
    db_path = ""

    def log_message(self, fmt, *args):  # noqa: D401 - keep the lab quiet
        pass

    def reply(self, code: int, title: str, body: str) -> None:
        data = PAGE.format(title=title, body=body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def query(self, sql: str):
        with DB_LOCK:
            con = sqlite3.connect(self.db_path)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()

    def do_GET(self):  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        qs = urllib.parse.parse_qs(url.query)
        if url.path in ("/app/", "/app/login"):
            return self.reply(200, "Sign in", LOGIN_FORM)
        if url.path == "/app/item":
            item_id = qs.get("id", ["1"])[0]
            # Vulnerable on purpose: the id is pasted into the SQL text.
            sql = f"SELECT id, name, price FROM items WHERE id = {item_id}"
            try:
                rows = self.query(sql)
            except sqlite3.Error as e:
                return self.reply(500, "Error", f"<pre>SQL error: {html.escape(str(e))}</pre>")
            body = "".join(f"<li>{r[0]}: {html.escape(str(r[1]))} ({r[2]})</li>" for r in rows)
            return self.reply(200, "Item", f"<ul>{body}</ul>")
        if url.path == "/app/search":
            q = qs.get("q", [""])[0]
            sql = f"SELECT name, note FROM items WHERE name LIKE '%{q}%'"
            try:
                rows = self.query(sql)
            except sqlite3.Error as e:
                return self.reply(500, "Error", f"<pre>SQL error: {html.escape(str(e))}</pre>")
            body = "".join(f"<li>{html.escape(str(r[0]))}: {html.escape(str(r[1]))}</li>" for r in rows)
            return self.reply(200, "Search", f"<ul>{body}</ul>")
        return self.reply(404, "Not found", "")

    def do_POST(self):  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(min(length, 65536)).decode(errors="replace"))
        if url.path == "/app/login":
            user = form.get("username", [""])[0]
            pw = form.get("password", [""])[0]
            # Injectable as well, for sqlmap's POST tests.
            sql = f"SELECT id FROM users WHERE username = '{user}' AND password = '{pw}'"
            try:
                rows = self.query(sql)
            except sqlite3.Error as e:
                return self.reply(500, "Error", f"<pre>SQL error: {html.escape(str(e))}</pre>")
            if rows:
                return self.reply(200, "Welcome", f"<p>Welcome back, {html.escape(user)}.</p>")
            time.sleep(0.02)
            return self.reply(200, "Sign in", "<p>Invalid username or password.</p>" + LOGIN_FORM)
        return self.reply(404, "Not found", "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--password", required=True)
    args = ap.parse_args()
    init_db(args.db, args.password)
    Handler.db_path = args.db
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
