#!/usr/bin/env python3
"""The real resolver (core/dns) against a real DNS server: nsd on loopback,
started here with test zones (tests/support/dns_server.py), asked through
dns_probe. Covers MX order, implicit MX, nomx, CNAMEs (inside one answer and
across zones), null MX, NXDOMAIN, nodata, SERVFAIL and REFUSED, timeouts and
fail-over to the next server, TCP after a truncated answer, spoofed
datagrams, and the cache (answers still given with the server stopped).
Never asks the machine's own resolver: every probe gets --server."""
import os
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from dns_server import DnsServer, SilentServer  # noqa: E402

PROBE = os.environ.get("DNS_PROBE", "build/tests/core/dns/dns_probe")

BIG = "".join(f"big A 127.0.1.{i}\n" for i in range(1, 121))  # ~1.9 KB: more than 1232 bytes

EXAMPLE = """
@        MX 20 mx2
@        MX 10 mx1
@        MX 30 noaddr
@        A  127.0.0.4
mx1      A  127.0.0.5
mx1      AAAA ::1
mx2      A  127.0.0.6
mx2      A  127.0.0.7
noaddr   TXT "no address here"
implicit A  127.0.0.8
nothing  TXT "neither MX nor address"
nomail   MX 0 .
www      CNAME host
host     A  127.0.0.9
alias    CNAME real.other.test.
cnamemx  CNAME @
loop1    CNAME loop2
loop2    CNAME loop1
deadmx   MX 10 mail.broken.test.
allnoaddr MX 10 noaddr
equal    MX 10 e1
equal    MX 10 e2
equal    MX 10 e3
e1       A  127.0.0.11
e2       A  127.0.0.12
e3       A  127.0.0.13
""" + BIG

OTHER = """
real     MX 10 mx1.example.test.
real     A  127.0.0.20
"""


def parse(output):
    """dns_probe's lines as a dict: single facts as strings, repeated ones as lists."""
    facts = {"mx": [], "address": [], "target": []}
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        if key == "end":
            break
        if key in ("mx", "address", "target"):
            facts[key].append(value)
        else:
            facts[key] = value
    return facts


class ResolverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer({"example.test": EXAMPLE, "other.test": OTHER}, servfail=["broken.test"])
        cls.dns.start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        cls.dns.cleanup()

    def probe(self, command, name, *options, servers=None):
        servers = servers or [self.dns.server]
        args = [PROBE]
        for s in servers:
            args += ["--server", s]
        args += ["--timeout-ms", "500", "--attempts", "2", *options, command, name]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.endswith("end\n"), r.stdout)
        return parse(r.stdout)

    # -- MX -----------------------------------------------------------------

    def test_mx_records_as_received(self):
        a = self.probe("mx", "Example.Test.")
        self.assertEqual(a["status"], "ok")
        self.assertEqual(a["canonical"], "example.test")
        self.assertEqual(sorted(a["mx"]), ["10 mx1.example.test", "20 mx2.example.test", "30 noaddr.example.test"])

    def test_targets_in_preference_order_with_every_address(self):
        a = self.probe("targets", "example.test")
        self.assertEqual(a["status"], "ok")
        self.assertEqual(a["implicit_mx"], "0")
        # noaddr (preference 30) has no address: left out.
        self.assertEqual(a["target"], ["mx1.example.test 10 127.0.0.5 ::1",
                                       "mx2.example.test 20 127.0.0.6 127.0.0.7"])
        self.assertNotIn("error", a)

    def test_no_ipv6_asks_no_aaaa(self):
        a = self.probe("targets", "example.test", "--no-ipv6")
        self.assertEqual(a["target"][0], "mx1.example.test 10 127.0.0.5")

    def test_randommx_shuffles_equal_preferences(self):
        orders = set()
        for _ in range(12):
            a = self.probe("targets-randommx", "equal.example.test")
            self.assertEqual(a["status"], "ok")
            hosts = [t.split()[0] for t in a["target"]]
            self.assertEqual(sorted(hosts), ["e1.example.test", "e2.example.test", "e3.example.test"])
            orders.add(tuple(hosts))
        self.assertGreater(len(orders), 1)

    def test_implicit_mx_is_the_domains_own_address(self):
        a = self.probe("targets", "implicit.example.test")
        self.assertEqual(a["status"], "ok")
        self.assertEqual(a["implicit_mx"], "1")
        self.assertEqual(a["target"], ["implicit.example.test 0 127.0.0.8"])

    def test_nomx_uses_the_address_records_only(self):
        a = self.probe("targets-nomx", "example.test")
        self.assertEqual(a["status"], "ok")
        self.assertEqual(a["target"], ["example.test 0 127.0.0.4"])

    def test_no_mx_and_no_address_is_permanent(self):
        a = self.probe("targets", "nothing.example.test")
        self.assertEqual(a["status"], "nodata")
        self.assertIn("has no MX and no address records", a["error"])

    def test_mx_hosts_without_address_are_permanent(self):
        a = self.probe("targets", "allnoaddr.example.test")
        self.assertEqual(a["status"], "nodata")
        self.assertIn("noaddr.example.test", a["error"])

    def test_null_mx_is_permanent(self):
        a = self.probe("mx", "nomail.example.test")
        self.assertEqual(a["mx"], ["0 ."])
        a = self.probe("targets", "nomail.example.test")
        self.assertEqual(a["status"], "nxdomain")
        self.assertEqual(a["null_mx"], "1")
        self.assertEqual(a["target"], [])
        self.assertEqual(a["error"], "Illegal host/domain name found")

    def test_nxdomain_is_permanent(self):
        self.assertEqual(self.probe("mx", "nosuch.example.test")["status"], "nxdomain")
        a = self.probe("targets", "nosuch.example.test")
        self.assertEqual(a["status"], "nxdomain")
        self.assertEqual(a["error"], "Illegal host/domain name found")

    def test_invalid_names_are_illegal_without_asking(self):
        with SilentServer() as silent:
            for name in ["bad..name", "[300.0.0.1]", "sp ace.test"]:
                a = self.probe("targets", name, servers=[silent.server])
                self.assertEqual(a["status"], "nxdomain", name)
                self.assertEqual(a["error"], "Illegal host/domain name found")

    def test_domain_literals_need_no_dns(self):
        with SilentServer() as silent:
            a = self.probe("targets", "[127.0.0.5]", servers=[silent.server])
            self.assertEqual(a["status"], "ok")
            self.assertEqual(a["target"], ["[127.0.0.5] 0 127.0.0.5"])
            a = self.probe("targets", "[IPv6:::1]", servers=[silent.server])
            self.assertEqual(a["target"], ["[ipv6:::1] 0 ::1"])

    def test_nodata(self):
        self.assertEqual(self.probe("mx", "host.example.test")["status"], "nodata")
        self.assertEqual(self.probe("addresses", "noaddr.example.test")["status"], "nodata")

    # -- CNAME --------------------------------------------------------------

    def test_cname_inside_one_answer(self):
        a = self.probe("addresses", "www.example.test")
        self.assertEqual(a["status"], "ok")
        self.assertEqual(a["canonical"], "host.example.test")
        self.assertEqual(a["address"], ["127.0.0.9"])

    def test_cname_to_another_zone_is_asked_again(self):
        a = self.probe("mx", "alias.example.test")
        self.assertEqual(a["status"], "ok")
        self.assertEqual(a["canonical"], "real.other.test")
        self.assertEqual(a["mx"], ["10 mx1.example.test"])
        a = self.probe("targets", "alias.example.test")
        self.assertEqual(a["target"], ["mx1.example.test 10 127.0.0.5 ::1"])

    def test_mx_of_a_cname(self):
        a = self.probe("mx", "cnamemx.example.test")
        self.assertEqual(a["canonical"], "example.test")
        self.assertEqual(len(a["mx"]), 3)

    def test_cname_loop_is_temporary(self):
        self.assertEqual(self.probe("addresses", "loop1.example.test")["status"], "servfail")

    # -- failures -------------------------------------------------------------

    def test_servfail_is_temporary(self):
        self.assertEqual(self.probe("mx", "broken.test")["status"], "servfail")
        a = self.probe("targets", "broken.test")
        self.assertEqual(a["status"], "servfail")
        self.assertIn("DNS server failure", a["error"])

    def test_refused_is_temporary(self):
        self.assertEqual(self.probe("mx", "outside.invalid")["status"], "servfail")

    def test_mx_host_lookup_failing_is_temporary(self):
        a = self.probe("targets", "deadmx.example.test")
        self.assertEqual(a["status"], "servfail")
        self.assertIn("mail.broken.test", a["error"])

    def test_no_answer_is_a_timeout(self):
        with SilentServer() as silent:
            a = self.probe("targets", "example.test", "--attempts", "1", "--timeout-ms", "200",
                           servers=[silent.server])
            self.assertEqual(a["status"], "timeout")
            self.assertIn("no DNS server answered", a["error"])

    def test_a_silent_server_is_passed_over(self):
        with SilentServer() as silent:
            a = self.probe("mx", "example.test", "--timeout-ms", "200", servers=[silent.server, self.dns.server])
            self.assertEqual(a["status"], "ok")

    def test_truncated_answer_is_asked_again_by_tcp(self):
        a = self.probe("addresses", "big.example.test", "--no-ipv6")
        self.assertEqual(a["status"], "ok")
        self.assertEqual(len(a["address"]), 120)

    def test_spoofed_and_garbage_datagrams_are_ignored(self):
        with Relay(self.dns.port) as relay:
            a = self.probe("mx", "example.test", servers=[relay.server])
        self.assertEqual(a["status"], "ok")
        self.assertEqual(len(a["mx"]), 3)
        self.assertGreaterEqual(relay.forged, 2)

    # -- cache ----------------------------------------------------------------

    def test_cached_answers_outlive_the_server(self):
        dns = DnsServer({"cache.test": "@ MX 10 mx\nmx A 127.0.0.30\nnx CNAME gone\n"})
        with dns:
            p = subprocess.Popen([PROBE, "--server", dns.server, "--timeout-ms", "300", "--attempts", "1",
                                  "--stdin"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                def ask(line):
                    p.stdin.write(line + "\n")
                    p.stdin.flush()
                    out = ""
                    while not out.endswith("end\n"):
                        chunk = p.stdout.readline()
                        self.assertTrue(chunk, "dns_probe ended early")
                        out += chunk
                    return parse(out)

                first = ask("targets cache.test")
                self.assertEqual(first["target"], ["mx.cache.test 10 127.0.0.30"])
                self.assertEqual(ask("mx nosuch.cache.test")["status"], "nxdomain")
                dns.stop()
                # Not asked before: the server is really gone.
                self.assertEqual(ask("mx other.cache.test")["status"], "timeout")
                # Asked before: from the cache (positive and negative).
                self.assertEqual(ask("targets cache.test"), first)
                self.assertEqual(ask("mx nosuch.cache.test")["status"], "nxdomain")
            finally:
                p.stdin.close()
                p.wait(timeout=30)
                p.stdout.close()


class Relay:
    """A UDP server in front of nsd that answers each query first with a
    forged datagram (wrong id), then with garbage, then with nsd's answer."""

    def __init__(self, upstream_port):
        self.upstream = ("127.0.0.1", upstream_port)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.server = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.forged = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.socket.close()
        return False

    def run(self):
        while self.running:
            try:
                query, client = self.socket.recvfrom(65535)
            except socket.timeout:
                continue
            forged = bytearray(query)
            forged[0] ^= 0x55  # another id
            forged[2] |= 0x80  # QR
            forged[3] = (forged[3] & 0xF0) | 3  # NXDOMAIN
            self.socket.sendto(bytes(forged), client)
            self.socket.sendto(b"\x00garbage", client)
            self.forged += 2
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
                up.settimeout(2)
                up.sendto(query, self.upstream)
                try:
                    self.socket.sendto(up.recv(65535), client)
                except socket.timeout:
                    pass


if __name__ == "__main__":
    unittest.main(verbosity=2)
