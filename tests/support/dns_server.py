#!/usr/bin/env python3
"""A real DNS server for tests: Debian's nsd on 127.0.0.1 and a free port.

    sys.path.insert(0, os.path.join(REPO, "tests", "support"))
    from dns_server import DnsServer

    with DnsServer({"example.test": '''
            @    MX 10 mx1
            @    MX 20 mx2
            mx1  A  127.0.0.5
            mx2  A  127.0.0.6
        '''}) as dns:
        dns.port            # 40213
        dns.server          # "127.0.0.1:40213", for DNS_SERVERS= or dns_probe --server

Zone texts are ordinary zone file lines with names relative to the zone
(`@` is the zone itself). Without an SOA record the zone gets a standard
head: $ORIGIN, $TTL 300, an SOA whose negative TTL is 60 s, and an NS
record. A null MX (RFC 7505) is "@ MX 0 .".

`servfail=["broken.test"]` declares zones whose file does not load: nsd
answers SERVFAIL for every name in them. Names outside every zone get
REFUSED. Both are temporary failures to the MTA's resolver.

The server runs in a temporary directory, in the foreground (`nsd -d`), as
the invoking user (no privilege drop, so root works too), with response
rate limiting off. It is stopped when the `with` block ends, also on an
exception; and since it gets SIGTERM when the process that started it dies
(prctl PR_SET_PDEATHSIG), a killed test leaves no server behind. Start it
from the thread that stays alive as long as it should run.

`dns.stop()` / `dns.start()` stop and restart it on the same port (to test
that answers come from a cache). `dns.log()` is nsd's log text.

As a command:  python3 tests/support/dns_server.py example.test=zonefile ...
                 [--servfail NAME] [--port N]
prints "127.0.0.1:PORT" and serves until interrupted.
"""

import ctypes
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time

__all__ = ["DnsServer", "free_port", "find_nsd", "query", "SilentServer"]

_NSD_PLACES = ["/usr/sbin/nsd", "/usr/local/sbin/nsd"]


def find_nsd():
    """Path of the nsd program, or None (Debian: apt-get install nsd)."""
    found = shutil.which("nsd")
    if found:
        return found
    for place in _NSD_PLACES:
        if os.access(place, os.X_OK):
            return place
    return None


def free_port(address="127.0.0.1"):
    """A port free for both UDP and TCP on `address` right now."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((address, 0))
            port = udp.getsockname()[1]
            try:
                with socket.socket(family, socket.SOCK_STREAM) as tcp:
                    tcp.bind((address, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port on " + address)


_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}


def query(address, port, name, rrtype="SOA", timeout=1.0):
    """Sends one query by UDP; returns (rcode, answer count), or None when
    nothing answered within `timeout`. Enough to see that a server is up."""
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        packet += bytes([len(label)]) + label.encode("ascii")
    packet += b"\0" + struct.pack(">HH", _TYPES[rrtype.upper()], 1)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (address, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == qid:
                return reply[3] & 0x0F, struct.unpack(">H", reply[6:8])[0]
    return None


def _zone_text(name, body):
    body = textwrap.dedent(body).strip("\n") + "\n"
    has_soa = any(" SOA " in " " + line.split(";")[0].upper() + " " for line in body.splitlines())
    if has_soa:
        return body
    head = (f"$ORIGIN {name}.\n"
            "$TTL 300\n"
            f"@ IN SOA ns.{name}. hostmaster.{name}. 1 3600 600 86400 60\n"
            f"@ IN NS ns.{name}.\n")
    return head + body


try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before any fork
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def _die_with_parent():
    # Runs in the child between fork and exec: SIGTERM when the parent dies.
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DnsServer:
    """nsd serving `zones` ({zone name: zone text}) on `address`:`port`
    (port None = a free one). See the module documentation."""

    def __init__(self, zones, servfail=(), address="127.0.0.1", port=None, nsd=None,
                 start_timeout=15.0):
        self.zones = {name.rstrip(".").lower(): text for name, text in zones.items()}
        self.servfail = [name.rstrip(".").lower() for name in servfail]
        self.address = address
        self.port = port
        self.nsd = nsd or find_nsd()
        self.start_timeout = start_timeout
        self.directory = None
        self.process = None
        self._log_offset = 0

    @property
    def server(self):
        """"ip:port" ("[ip]:port" for IPv6), as DNS_SERVERS and dns_probe take it."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        self.cleanup()
        return False

    def __del__(self):
        try:
            self.stop()
            self.cleanup()
        except Exception:
            pass

    def start(self):
        if self.process is not None:
            return
        if not self.nsd:
            raise RuntimeError("nsd not found: apt-get install nsd")
        if self.directory is None:
            self.directory = tempfile.mkdtemp(prefix="imta-nsd-")
            self._write_zones()
        choose_port = self.port is None
        last_error = ""
        for _ in range(5 if choose_port else 1):
            if choose_port:
                self.port = free_port(self.address)
            self._write_config()
            if self._launch():
                return
            last_error = self.log()
            self._kill()
        raise RuntimeError(f"nsd did not start on {self.server}:\n{last_error}")

    def stop(self):
        """Stops nsd; the port and files stay for a later start()."""
        self._kill()

    def cleanup(self):
        if self.directory and os.path.isdir(self.directory):
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory = None

    def log(self):
        path = os.path.join(self.directory or "", "nsd.log")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- internals ---------------------------------------------------------

    def _write_zones(self):
        for name, text in self.zones.items():
            with open(os.path.join(self.directory, name + ".zone"), "w") as f:
                f.write(_zone_text(name, text))
        for name in self.servfail:
            # A zone nsd cannot load: it answers SERVFAIL for it.
            with open(os.path.join(self.directory, name + ".zone"), "w") as f:
                f.write("this zone file does not load (((\n")

    def _write_config(self):
        d = self.directory
        ip6 = "yes" if ":" in self.address else "no"
        ip4 = "no" if ":" in self.address else "yes"
        lines = [
            "server:",
            f'  ip-address: {self.address}',
            f"  port: {self.port}",
            f"  do-ip4: {ip4}",
            f"  do-ip6: {ip6}",
            '  username: ""',
            '  chroot: ""',
            f'  zonesdir: "{d}"',
            '  database: ""',
            f'  pidfile: "{d}/nsd.pid"',
            f'  xfrdfile: "{d}/xfrd.state"',
            f'  xfrdir: "{d}"',
            f'  zonelistfile: "{d}/zone.list"',
            f'  logfile: "{d}/nsd.log"',
            "  server-count: 1",
            "  verbosity: 1",
            "  rrl-ratelimit: 0",
            "remote-control:",
            "  control-enable: no",
        ]
        for name in list(self.zones) + self.servfail:
            lines += ["zone:", f"  name: {name}", f'  zonefile: "{name}.zone"']
        with open(os.path.join(d, "nsd.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def _launch(self):
        self.process = subprocess.Popen(
            [self.nsd, "-d", "-c", os.path.join(self.directory, "nsd.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        probe = next(iter(self.zones), None) or next(iter(self.servfail), "")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            # Any answer (even REFUSED) means nsd is serving.
            if query(self.address, self.port, probe, "SOA", timeout=0.2) is not None:
                return True
        return False

    def _kill(self):
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SilentServer:
    """A bound UDP socket that never answers: queries to it time out (no
    ICMP port unreachable either). `with SilentServer() as s: s.server`."""

    def __init__(self, address="127.0.0.1"):
        self.address = address
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        self.socket.bind((address, 0))
        self.port = self.socket.getsockname()[1]

    @property
    def server(self):
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.socket.close()
        return False


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description="Serve zone files with nsd on loopback.")
    parser.add_argument("zones", nargs="*", metavar="ZONE=FILE")
    parser.add_argument("--servfail", action="append", default=[], metavar="ZONE")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    zones = {}
    for item in args.zones:
        name, _, path = item.partition("=")
        with open(path) as f:
            zones[name] = f.read()
    with DnsServer(zones, servfail=args.servfail, address=args.address, port=args.port) as dns:
        print(dns.server, flush=True)
        try:
            while dns.process and dns.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
