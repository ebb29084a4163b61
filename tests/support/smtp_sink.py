#!/usr/bin/env python3
"""A scriptable SMTP sink for tests of imta's SMTP client.

    smtp_sink.py --dir DIR [--script SCRIPT.json] --listen 127.0.0.2 [--listen 127.0.0.3 ...] [--port N]

Listens on every --listen address, all on the same port: --port, or a free
one chosen by binding the first address to port 0. When every listener is
up it writes DIR/ready (atomically) holding the port and prints the port on
standard output, then serves until SIGTERM or SIGINT.

What it received goes to DIR:
  transcript.log     one line per event, "<conn> <listener> <what>", flushed
                     at once: "connect", "C: <command line>", "S: <reply>",
                     "tls", "close"
  msg-<n>.env        per message, written before the final reply: "key value"
                     lines: conn, listener, helo, tls (yes/no), auth (user or
                     -), mail (the MAIL line), rcpt (one per RCPT line),
                     accepted (one per accepted RCPT line)
  msg-<n>.wire       the message data exactly as received on the wire
                     (dot-stuffed), without the final ".\\r\\n"
  msg-<n>.json       the same as JSON (data as latin-1 text)

The script (JSON object; every key optional) says how to answer:
  greeting        "220 sink.test ESMTP"; e.g. "421 4.3.2 busy" to refuse
  ehlo            true; false answers EHLO with 502 (the client must HELO)
  extensions      ["PIPELINING", "SIZE 10485760", "8BITMIME", "DSN",
                   "SMTPUTF8", "ENHANCEDSTATUSCODES"]
  tls_cert, tls_key   PEM files: STARTTLS is offered (until TLS is on)
  auth_user, auth_password   AUTH PLAIN LOGIN is offered and checked
  mail_reply      "250 2.1.0 Ok"
  rcpt_replies    {"user@domain": "451 4.2.1 later", ...}; others get
  rcpt_reply      "250 2.1.5 Ok"
  data_reply      "354 End data with <CR><LF>.<CR><LF>"
  final_reply     "250 2.0.0 Ok: queued"
  drop_at         a verb (MAIL, RCPT, DATA, DOT for the final dot): close
                  the connection instead of answering it
  hang_at         a verb as for drop_at: never answer it (the client's
                  timeout must end the session)
  pause_in_data   seconds to wait after the 354 before reading the message (a
                  slow server: the client's socket buffers fill up)
  close_after_messages   N: close the connection (no reply, no 421) after the
                  final reply of its Nth message, as a server that drops
                  idle sessions does
  listeners       {"127.0.0.3": {...}}: keys that apply to one listener only
"""

import argparse
import base64
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time

DEFAULTS = {
    "greeting": "220 sink.test ESMTP",
    "ehlo": True,
    "extensions": ["PIPELINING", "SIZE 10485760", "8BITMIME", "DSN", "SMTPUTF8", "ENHANCEDSTATUSCODES"],
    "mail_reply": "250 2.1.0 Ok",
    "rcpt_reply": "250 2.1.5 Ok",
    "rcpt_replies": {},
    "data_reply": "354 End data with <CR><LF>.<CR><LF>",
    "final_reply": "250 2.0.0 Ok: queued",
    "drop_at": None,
    "hang_at": None,
}


class Recorder:
    def __init__(self, directory):
        self.dir = directory
        self.lock = threading.Lock()
        self.conns = 0
        self.messages = 0
        self.log = open(os.path.join(directory, "transcript.log"), "a", encoding="utf-8", errors="replace")

    def next_conn(self):
        with self.lock:
            self.conns += 1
            return self.conns

    def event(self, conn, listener, what):
        with self.lock:
            self.log.write(f"{conn} {listener} {what}\n")
            self.log.flush()

    def message(self, meta, wire):
        with self.lock:
            self.messages += 1
            n = self.messages
        base = os.path.join(self.dir, f"msg-{n}")
        with open(base + ".wire.tmp", "wb") as f:
            f.write(wire)
        os.replace(base + ".wire.tmp", base + ".wire")
        lines = [f"conn {meta['conn']}", f"listener {meta['listener']}", f"helo {meta['helo']}",
                 f"tls {'yes' if meta['tls'] else 'no'}", f"auth {meta['auth'] or '-'}", f"mail {meta['mail']}"]
        lines += [f"rcpt {r}" for r in meta["rcpts"]]
        lines += [f"accepted {r}" for r in meta["accepted"]]
        with open(base + ".json.tmp", "w", encoding="utf-8") as f:
            json.dump(dict(meta, data=wire.decode("latin-1")), f)
        os.replace(base + ".json.tmp", base + ".json")
        with open(base + ".env.tmp", "w", encoding="utf-8", errors="replace") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(base + ".env.tmp", base + ".env")


class Closed(Exception):
    pass


class Session:
    def __init__(self, sock, listener, script, recorder):
        self.sock = sock
        self.listener = listener
        self.script = script
        self.rec = recorder
        self.conn = recorder.next_conn()
        self.buf = b""
        self.tls = False
        self.auth = None
        self.helo = ""
        self.messages = 0
        self.reset()

    def reset(self):
        self.mail = None
        self.rcpts = []
        self.accepted = []

    def event(self, what):
        self.rec.event(self.conn, self.listener, what)

    def readline(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Closed()
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, reply):
        self.event("S: " + reply.replace("\r\n", " | "))
        self.sock.sendall(reply.encode("utf-8") + b"\r\n")

    def multiline(self, code, lines):
        out = [f"{code}-{l}" for l in lines[:-1]] + [f"{code} {lines[-1]}"]
        self.send("\r\n".join(out))

    def drop(self, verb):
        if (self.script.get("drop_at") or "").upper() == verb:
            self.event("drop at " + verb)
            raise Closed()
        if (self.script.get("hang_at") or "").upper() == verb:
            self.event("hang at " + verb)
            while self.sock.recv(65536):
                pass
            raise Closed()

    def extensions(self):
        ext = list(self.script["extensions"])
        if self.script.get("tls_cert") and not self.tls:
            ext.append("STARTTLS")
        if self.script.get("auth_user") is not None:
            ext.append("AUTH PLAIN LOGIN")
        return ext

    def b64(self, text):
        try:
            return base64.b64decode(text, validate=True).decode("utf-8", "replace")
        except Exception:
            return None

    def check_auth(self, user, password):
        if user == self.script.get("auth_user") and password == self.script.get("auth_password"):
            self.auth = user
            self.event("auth " + user)
            self.send("235 2.7.0 Authentication successful")
        else:
            self.send("535 5.7.8 Authentication credentials invalid")

    def run(self):
        self.event("connect")
        try:
            greeting = self.script["greeting"]
            self.send(greeting)
            if not greeting.startswith("220"):
                return
            while True:
                raw = self.readline()
                line = raw.decode("utf-8", "replace")
                self.event("C: " + line)
                verb = line.split(" ", 1)[0].upper()
                arg = line[len(verb):].strip()
                if verb == "EHLO":
                    if not self.script["ehlo"]:
                        self.send("502 5.5.1 EHLO not implemented")
                        continue
                    self.helo = arg
                    self.reset()
                    self.multiline(250, ["sink.test"] + self.extensions())
                elif verb == "HELO":
                    self.helo = arg
                    self.reset()
                    self.send("250 sink.test")
                elif verb == "STARTTLS" and self.script.get("tls_cert") and not self.tls:
                    self.send("220 2.0.0 Ready to start TLS")
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    ctx.load_cert_chain(self.script["tls_cert"], self.script["tls_key"])
                    self.buf = b""
                    self.sock = ctx.wrap_socket(self.sock, server_side=True)
                    self.tls = True
                    self.helo = ""
                    self.reset()
                    self.event("tls " + self.sock.version())
                elif verb == "AUTH" and self.script.get("auth_user") is not None:
                    parts = arg.split()
                    mech = parts[0].upper() if parts else ""
                    if mech == "PLAIN":
                        token = parts[1] if len(parts) > 1 else None
                        if token is None:
                            self.send("334 ")
                            token = self.readline().decode("ascii", "replace")
                        decoded = self.b64(token) or ""
                        fields = decoded.split("\0")
                        if len(fields) == 3:
                            self.check_auth(fields[1], fields[2])
                        else:
                            self.send("501 5.5.2 malformed PLAIN response")
                    elif mech == "LOGIN":
                        self.send("334 VXNlcm5hbWU6")
                        user = self.b64(self.readline().decode("ascii", "replace"))
                        self.send("334 UGFzc3dvcmQ6")
                        password = self.b64(self.readline().decode("ascii", "replace"))
                        self.check_auth(user, password)
                    else:
                        self.send("504 5.5.4 mechanism not supported")
                elif verb == "MAIL":
                    self.drop("MAIL")
                    reply = self.script["mail_reply"]
                    if self.script.get("auth_user") is not None and self.auth is None:
                        reply = "530 5.7.0 Authentication required"
                    if reply.startswith("2"):
                        self.mail = line
                        self.rcpts, self.accepted = [], []
                    self.send(reply)
                elif verb == "RCPT":
                    self.drop("RCPT")
                    if self.mail is None:
                        self.send("503 5.5.1 MAIL first")
                        continue
                    address = arg.split(":", 1)[-1].strip().split(" ", 1)[0].strip("<>")
                    reply = self.script["rcpt_replies"].get(address, self.script["rcpt_reply"])
                    self.rcpts.append(line)
                    if reply.startswith("2"):
                        self.accepted.append(line)
                    self.send(reply)
                elif verb == "DATA":
                    self.drop("DATA")
                    if not self.accepted:
                        self.send("554 5.5.1 No valid recipients")
                        continue
                    reply = self.script["data_reply"]
                    self.send(reply)
                    if not reply.startswith("354"):
                        continue
                    if self.script.get("pause_in_data"):
                        time.sleep(float(self.script["pause_in_data"]))
                    wire = bytearray()  # (bytes += would copy the whole message per line)
                    while True:
                        data_line = self.readline()
                        if data_line == b".":
                            break
                        wire += data_line
                        wire += b"\r\n"
                    wire = bytes(wire)
                    self.event(f"data {len(wire)} bytes")
                    self.drop("DOT")
                    self.rec.message({"conn": self.conn, "listener": self.listener, "helo": self.helo,
                                      "tls": self.tls, "auth": self.auth, "mail": self.mail,
                                      "rcpts": self.rcpts, "accepted": self.accepted}, wire)
                    self.send(self.script["final_reply"])
                    self.reset()
                    self.messages += 1
                    if self.script.get("close_after_messages") and self.messages >= self.script["close_after_messages"]:
                        return
                elif verb == "RSET":
                    self.reset()
                    self.send("250 2.0.0 Ok")
                elif verb == "NOOP":
                    self.send("250 2.0.0 Ok")
                elif verb == "QUIT":
                    self.send("221 2.0.0 Bye")
                    return
                else:
                    self.send("502 5.5.2 Command not recognised")
        except (Closed, ConnectionError, ssl.SSLError, OSError) as e:
            if not isinstance(e, Closed):
                self.event("error " + str(e))
        finally:
            self.event("close")
            try:
                self.sock.close()
            except OSError:
                pass


def serve(server, listener, script, recorder):
    while True:
        try:
            sock, _ = server.accept()
        except OSError:
            return
        session = Session(sock, listener, script, recorder)
        threading.Thread(target=session.run, daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--script")
    p.add_argument("--listen", action="append", required=True)
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()

    script = {}
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = json.load(f)
    os.makedirs(args.dir, exist_ok=True)
    recorder = Recorder(args.dir)

    port = args.port
    servers = []
    for address in args.listen:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        s.listen(64)
        port = s.getsockname()[1]
        merged = dict(DEFAULTS)
        merged.update({k: v for k, v in script.items() if k != "listeners"})
        merged.update(script.get("listeners", {}).get(address, {}))
        servers.append(s)
        threading.Thread(target=serve, args=(s, address, merged, recorder), daemon=True).start()

    ready = os.path.join(args.dir, "ready")
    with open(ready + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.replace(ready + ".tmp", ready)
    print(port, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    for s in servers:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
