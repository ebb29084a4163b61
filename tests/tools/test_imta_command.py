#!/usr/bin/env python3
"""End-to-end tests of the `imta` command: real instance directories on disk,
the real binary, checked by what an administrator sees (exit codes, output,
files). Run by meson with IMTA_BIN pointing at the built binary."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

IMTA = os.environ.get("IMTA_BIN", "build/tools/imta")


def imta(*args, root=None, env=None, stdin=None):
    cmd = [IMTA] + (["--root", root] if root else []) + list(args)
    full_env = dict(os.environ)
    full_env.pop("IMTA_ROOT", None)
    if env:
        full_env.update(env)
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, input=stdin, timeout=60)


class InstanceTest(unittest.TestCase):
    """Each test gets a fresh instance for example.test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imta-test-")
        self.root = os.path.join(self.tmp, "x")
        r = imta("init", self.root, "--domain", "example.test", "--hostname", "mail.example.test")
        self.assertEqual(r.returncode, 0, r.stderr)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def config(self, name):
        return os.path.join(self.root, "config", name)

    def edit(self, name, old, new):
        with open(self.config(name)) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(self.config(name), "w") as f:
            f.write(text.replace(old, new, 1))

    def append(self, name, text):
        with open(self.config(name), "a") as f:
            f.write(text)

    def rewrite(self, *addresses, **kw):
        r = imta("test", "-rewrite", *addresses, root=self.root, **kw)
        return r, parse_blocks(r.stdout)


def parse_blocks(out):
    """Splits `imta test` output into one dict per block ("key = value" lines)."""
    blocks, cur = [], None
    for line in out.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^\s+(\S+)\s+=\s?(.*)$", line)
        if m and cur is not None:
            cur[m.group(1)] = m.group(2)
        else:
            cur = {"_": line.strip()}
            blocks.append(cur)
    return blocks


class Init(InstanceTest):
    def test_creates_the_instance_tree_and_a_compiled_image(self):
        for sub in ["config", "queue", "log", "db", "bin", "run"]:
            self.assertTrue(os.path.isdir(os.path.join(self.root, sub)), sub)
        for f in ["imta.cnf", "option.dat", "mappings", "aliases", "dispatcher.cnf",
                  "job_controller.cnf", "imta.image"]:
            self.assertTrue(os.path.isfile(self.config(f)), f)
        with open(self.config("imta.cnf")) as f:
            cnf = f.read()
        self.assertIn("example.test", cnf)
        self.assertNotIn("{{", cnf)
        with open(self.config("dispatcher.cnf")) as f:
            disp = f.read()
        for port in ["2525", "2587", "2465"]:
            self.assertIn(port, disp)

    def test_creates_a_self_signed_certificate_with_a_private_key(self):
        cert = os.path.join(self.root, "config", "tls", "server.pem")
        key = os.path.join(self.root, "config", "tls", "server.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        r = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-subject", "-ext", "subjectAltName"],
                           capture_output=True, text=True)
        if r.returncode == 0:  # the openssl tool is optional on the test machine
            self.assertIn("mail.example.test", r.stdout)
        with open(cert) as f:
            self.assertIn("BEGIN CERTIFICATE", f.read())

    def test_refuses_to_overwrite_an_existing_instance(self):
        with open(self.config("imta.cnf"), "a") as f:
            f.write("! my edit\n")
        r = imta("init", self.root)
        self.assertEqual(r.returncode, 1)
        self.assertIn("refusing to overwrite", r.stderr)
        with open(self.config("imta.cnf")) as f:
            self.assertIn("! my edit", f.read())

    def test_rejects_a_bad_domain(self):
        r = imta("init", os.path.join(self.tmp, "y"), "--domain", "bad domain!")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a valid domain name", r.stderr)


class Locating(InstanceTest):
    def test_missing_instance_is_one_clear_line_and_non_zero(self):
        r = imta("cnbuild", root=os.path.join(self.tmp, "nowhere"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("no imta instance at", r.stderr)
        self.assertIn("imta init", r.stderr)

    def test_imta_root_environment_variable(self):
        r = imta("cnbuild", env={"IMTA_ROOT": self.root})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_root_option_wins_over_environment(self):
        r = imta("cnbuild", root=self.root, env={"IMTA_ROOT": os.path.join(self.tmp, "nowhere")})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_unknown_command_is_a_usage_error(self):
        r = imta("frobnicate", root=self.root)
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown command "frobnicate"', r.stderr)


class Cnbuild(InstanceTest):
    def test_default_configuration_compiles(self):
        os.remove(self.config("imta.image"))
        r = imta("cnbuild", root=self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotRegex(r.stderr, r":\d+: (?!warning)")  # no errors
        self.assertTrue(os.path.isfile(self.config("imta.image")))

    def test_statistics_count_what_was_compiled(self):
        r = imta("cnbuild", "-statistics", root=self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        stats = dict(re.findall(r"^\s*([a-z ]+?)\s*:\s*(\d+)\s*$", r.stdout, re.M))
        self.assertGreaterEqual(int(stats["rewrite rules"]), 5)
        self.assertEqual(int(stats["channels"]), 10)
        self.assertEqual(int(stats["mapping tables"]), 3)
        self.assertGreaterEqual(int(stats["mapping entries"]), 6)
        self.assertEqual(int(stats["aliases"]), 3)
        self.assertGreaterEqual(int(stats["options set"]), 5)
        self.assertEqual(int(stats["services"]), 3)
        self.assertEqual(int(stats["pools"]), 3)

    def test_options_listing_shows_values_and_meanings(self):
        r = imta("cnbuild", "-options", root=self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        line = next(l for l in r.stdout.splitlines() if l.startswith("LOG_CONNECTION"))
        self.assertIn("3", line)
        self.assertTrue(any(l.startswith("BLOCK_SIZE") for l in r.stdout.splitlines()))

    def test_unimplemented_keywords_are_warnings_not_errors(self):
        # The default configuration uses only keywords that are acted on.
        r = imta("cnbuild", root=self.root)
        self.assertEqual(r.returncode, 0)
        self.assertIn("(0 warnings)", r.stderr)
        # Sun's tcp_local line has remotehost, which imta only recognises.
        self.edit("imta.cnf", "tcp_local smtp mx single_sys switchchannel",
                  "tcp_local smtp mx single_sys remotehost switchchannel")
        r = imta("cnbuild", root=self.root)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r'imta\.cnf:\d+: warning: keyword "remotehost" is recognised but not yet acted on')

    def test_every_mistake_is_reported_with_its_line_and_nothing_is_compiled(self):
        with open(self.config("imta.image"), "rb") as f:
            image_before = f.read()
        self.edit("imta.cnf", "l maxjobs 4 pool LOCAL_POOL", "l maxjobs four pool LOCAL_POOL frobnicate")
        self.edit("imta.cnf", "tcp_auth smtp mx", "tcp_auth smtp mx maxjob 7")
        self.edit("option.dat", "BLOCK_SIZE=1024", "BLOCK_SIZE=1024\nLOG_CONECTION=1\nBLOCK_SIZE=abc")
        self.append("mappings", "\n  orphan   $Y\n")
        self.edit("dispatcher.cnf", "PORT=2587", "PORT=99999")
        self.edit("job_controller.cnf", "JOB_LIMIT=20", "JOB_LIMT=20")
        self.append("aliases", "loop1: loop2\nloop2: loop1\nnocolon here\n")
        r = imta("cnbuild", root=self.root)
        self.assertEqual(r.returncode, 1)
        errors = [l for l in r.stderr.splitlines() if re.match(r"^\S+:\d+: (?!warning:)", l)]
        def has(fname, text):
            return any(os.path.basename(l.split(":")[0]) == fname and text in l for l in errors)
        self.assertTrue(has("imta.cnf", "maxjobs"), errors)
        self.assertTrue(has("imta.cnf", "frobnicate"), errors)
        self.assertTrue(has("imta.cnf", "maxjob"), errors)
        self.assertTrue(has("option.dat", "LOG_CONECTION"), errors)
        self.assertTrue(has("option.dat", "BLOCK_SIZE"), errors)
        self.assertTrue(has("mappings", "orphan") or has("mappings", "outside"), errors)
        self.assertTrue(has("dispatcher.cnf", "99999"), errors)
        self.assertTrue(has("job_controller.cnf", "JOB_LIMT"), errors)
        self.assertTrue(has("aliases", "loop"), errors)
        self.assertTrue(has("aliases", "nocolon") or has("aliases", ":"), errors)
        self.assertGreaterEqual(len(errors), 10, errors)
        self.assertRegex(r.stderr, r"\d+ errors?")
        with open(self.config("imta.image"), "rb") as f:
            self.assertEqual(f.read(), image_before, "a failed cnbuild must not touch the image")
        # Lines are right: the maxjobs error names the line the l block is on.
        with open(self.config("imta.cnf")) as f:
            lno = next(i for i, l in enumerate(f, 1) if l.startswith("l maxjobs four"))
        self.assertTrue(any(re.search(r"imta\.cnf:%d: .*maxjobs" % lno, l) for l in errors), errors)

    def test_check_only_leaves_the_image_alone(self):
        os.remove(self.config("imta.image"))
        r = imta("cnbuild", "-noimage_file", root=self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.config("imta.image")))

    def test_corrupt_image_is_reported_not_crashed_on(self):
        with open(self.config("imta.image"), "r+b") as f:
            f.seek(40)
            f.write(b"\xff\xff\xff\xff")
        r = imta("test", "-rewrite", "user@example.org", root=self.root)
        self.assertEqual(r.returncode, 1)
        self.assertIn("imta cnbuild", r.stderr)


class TestRewrite(InstanceTest):
    def check(self, address, channel, rewritten):
        r, blocks = self.rewrite(address)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(blocks[0]["channel"], channel, r.stdout)
        self.assertEqual(blocks[0]["address"], rewritten, r.stdout)
        self.assertRegex(blocks[0]["rule"], r"imta\.cnf:\d+")
        return blocks[0]

    def test_local_domain_goes_to_l(self):
        self.check("user@example.test", "l", "user@example.test")
        self.check("User@MAIL.Example.Test", "l", "User@mail.example.test")

    def test_other_domains_go_to_tcp_local(self):
        b = self.check("user@example.org", "tcp_local", "user@example.org")
        with open(self.config("imta.cnf")) as f:
            lno = next(i for i, l in enumerate(f, 1) if l.startswith(".  "))
        self.assertIn("imta.cnf:%d: " % lno, b["rule"])

    def test_percent_hack_through_the_local_domain(self):
        self.check("user%other.org@example.test", "tcp_local", "user@other.org")

    def test_bang_path_through_the_local_domain(self):
        self.check("other.org!user@example.test", "tcp_local", "user@other.org")

    def test_source_route_routes_on_the_first_hop(self):
        r, blocks = self.rewrite("@a.example,@b.example:u@c.example")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(blocks[0]["channel"], "tcp_local")

    def test_domain_literal(self):
        self.check("user@[192.0.2.1]", "tcp_local", "user@[192.0.2.1]")

    def test_several_addresses_and_an_illegal_one(self):
        self.edit("imta.cnf", ".                        $U%$H@tcp_local-daemon",
                  "nowhere.example          $U%$D@no-such-channel-daemon\n"
                  ".                        $U%$H@tcp_local-daemon")
        self.assertEqual(imta("cnbuild", root=self.root).returncode, 0)
        r, blocks = self.rewrite("a@example.test", "b@nowhere.example")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(blocks[0]["channel"], "l")
        self.assertIn("illegal host/domain name", blocks[1]["error"].lower())

    def test_image_is_used_unless_noimage_file(self):
        self.edit("imta.cnf", "localhost                $U%",
                  "example.org              $U%example.org@mail.example.test\nlocalhost                $U%")
        _, blocks = self.rewrite("user@example.org")
        self.assertEqual(blocks[0]["channel"], "tcp_local")  # image: old rules
        r = imta("test", "-rewrite", "-noimage_file", "user@example.org", root=self.root)
        self.assertEqual(parse_blocks(r.stdout)[0]["channel"], "l", r.stdout)
        self.assertIn("changed since", r.stderr + imta("test", "-rewrite", "x@y.org", root=self.root).stderr)

    def test_from_address_adds_the_relay_check(self):
        r = imta("test", "-rewrite", "-source_channel=tcp_local", "-from=a@x.org", "b@y.org", root=self.root)
        self.assertEqual(parse_blocks(r.stdout)[0]["access"], "refused: Relaying not permitted", r.stdout)
        r = imta("test", "-rewrite", "-source_channel=tcp_intranet", "-from=a@x.org", "b@y.org", root=self.root)
        self.assertEqual(parse_blocks(r.stdout)[0]["access"], "allowed", r.stdout)
        r = imta("test", "-rewrite", "-source_channel=tcp_local", "-from=a@x.org", "u@example.test", root=self.root)
        self.assertEqual(parse_blocks(r.stdout)[0]["access"], "allowed", r.stdout)

    def test_debug_shows_every_attempt(self):
        r = imta("test", "-rewrite", "-debug", "user@a.b.example.org", root=self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        for probe in ["a.b.example.org", "*.b.example.org", ".b.example.org", ".org", "."]:
            self.assertIn(probe, r.stdout)


class TestMapping(InstanceTest):
    def test_relaying_refused_from_outside(self):
        r = imta("test", "-mapping", "-table=ORIG_SEND_ACCESS", "tcp_local|a@x.org|tcp_local|b@y.org",
                 root=self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        b = parse_blocks(r.stdout)[0]
        self.assertIn("$N", b["flags"])
        self.assertEqual(b["output"], "Relaying not permitted")
        self.assertRegex(b["entry"], r"mappings:\d+")

    def test_relaying_allowed_from_intranet(self):
        r = imta("test", "-mapping", "-table=ORIG_SEND_ACCESS", "tcp_intranet|a@x.org|tcp_local|b@y.org",
                 root=self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        b = parse_blocks(r.stdout)[0]
        self.assertNotIn("$N", b.get("flags", ""))
        self.assertIn("no entry matched", b["result"])

    def test_port_access_marks_outside_clients_external(self):
        r = imta("test", "-mapping", "-table=PORT_ACCESS", root=self.root,
                 stdin="TCP|127.0.0.1|2525|127.0.0.1|40000\nTCP|127.0.0.1|2525|192.0.2.7|40000\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        blocks = parse_blocks(r.stdout)
        self.assertEqual(len(blocks), 2, r.stdout)
        self.assertEqual(blocks[0]["output"], "")
        self.assertIn("$Y", blocks[0]["flags"])
        self.assertEqual(blocks[1]["output"], "EXTERNAL")

    def test_unknown_table_is_an_error(self):
        r = imta("test", "-mapping", "-table=NO_SUCH", "x", root=self.root)
        self.assertEqual(r.returncode, 1)
        self.assertIn("NO_SUCH", r.stderr)

    def test_missing_table_option_is_a_usage_error(self):
        r = imta("test", "-mapping", "x", root=self.root)
        self.assertEqual(r.returncode, 2)


class TestMatch(unittest.TestCase):
    def test_match_prints_wildcards(self):
        r = imta("test", "-match", "*@*.org", "user@example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        b = parse_blocks(r.stdout)
        self.assertEqual(b[0]["_"], "match")
        self.assertEqual(b[0]["$0"], "user")
        self.assertEqual(b[0]["$1"], "example")

    def test_no_match_exits_one(self):
        r = imta("test", "-match", "*@*.org", "user@example.com")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no match", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
