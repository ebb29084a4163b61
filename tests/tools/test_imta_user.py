#!/usr/bin/env python3
"""End-to-end tests of `imta user`: the real binary on a temporary instance,
checked by what an administrator sees (exit codes, messages, listings) and by
what lands in db/users.sqlite, read back with Python's own sqlite3 and
hashlib so the stored hashes are checked by a second implementation.
Run by meson with IMTA_BIN pointing at the built binary."""
import base64
import hashlib
import json
import os
import pty
import select
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
import unittest

IMTA = os.environ.get("IMTA_BIN", "build/tools/imta")


def imta(*args, root=None, stdin=None):
    cmd = [IMTA] + (["--root", root] if root else []) + list(args)
    env = dict(os.environ)
    env.pop("IMTA_ROOT", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          input=stdin if stdin is not None else "", timeout=60)


def b64decode(text):
    """PHC base64: standard alphabet, no padding."""
    return base64.b64decode(text + "=" * (-len(text) % 4))


def scrypt_matches(password, stored):
    """Checks a `$scrypt$ln=..,r=..,p=..$salt$hash` string with hashlib."""
    _, scheme, params, salt, digest = stored.split("$")
    assert scheme == "scrypt", stored
    p = dict(item.split("=") for item in params.split(","))
    n, r, par = 1 << int(p["ln"]), int(p["r"]), int(p["p"])
    expected = b64decode(digest)
    got = hashlib.scrypt(password.encode(), salt=b64decode(salt), n=n, r=r, p=par,
                         maxmem=256 << 20, dklen=len(expected))
    return got == expected


class UserTest(unittest.TestCase):
    """Each test gets a fresh instance for example.test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imta-user-test-")
        self.root = os.path.join(self.tmp, "x")
        r = imta("init", self.root, "--domain", "example.test", "--hostname", "mail.example.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.db = os.path.join(self.root, "db", "users.sqlite")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def user(self, *args, stdin=None):
        return imta("user", *args, root=self.root, stdin=stdin)

    def ok(self, *args, stdin=None):
        r = self.user(*args, stdin=stdin)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def rows(self):
        with sqlite3.connect(self.db) as c:
            return {name: (pw, enabled) for name, pw, enabled in
                    c.execute("SELECT name, password_hash, enabled FROM users")}

    def listing(self):
        return [json.loads(line) for line in self.ok("list", "--json").stdout.splitlines()]


class Add(UserTest):
    def test_password_from_stdin_is_stored_as_a_salted_scrypt_hash(self):
        r = self.ok("add", "Alice@Example.Test", "--password-stdin", stdin="s3cret pass\n")
        self.assertIn("alice@example.test", r.stdout)
        stored, enabled = self.rows()["alice@example.test"]
        self.assertEqual(enabled, 1)
        self.assertTrue(stored.startswith("$scrypt$ln=14,r=8,p=1$"), stored)
        self.assertNotIn("s3cret", stored)
        self.assertTrue(scrypt_matches("s3cret pass", stored))
        self.assertFalse(scrypt_matches("s3cret pass\n", stored))

    def test_piped_password_without_option_is_one_line(self):
        self.ok("add", "bob", stdin="pw with spaces \r\nsecond line ignored\n")
        self.assertTrue(scrypt_matches("pw with spaces ", self.rows()["bob"][0]))

    def test_same_password_gives_different_hashes(self):
        self.ok("add", "a1", stdin="same\n")
        self.ok("add", "a2", stdin="same\n")
        rows = self.rows()
        self.assertNotEqual(rows["a1"][0], rows["a2"][0])

    def test_no_password_makes_a_mail_only_user(self):
        r = self.ok("add", "carol", "--no-password")
        self.assertIn("no SMTP AUTH", r.stdout)
        self.assertIsNone(self.rows()["carol"][0])
        r = self.user("verify", "carol", "--password-stdin", stdin="anything\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no password", r.stdout)

    def test_database_file_is_created_with_mode_0600(self):
        self.assertFalse(os.path.exists(self.db))
        self.ok("add", "dave", "--no-password")
        self.assertEqual(stat.S_IMODE(os.stat(self.db).st_mode), 0o600)

    def test_duplicate_user_is_refused_and_untouched(self):
        self.ok("add", "erin@example.test", stdin="first\n")
        before = self.rows()
        r = self.user("add", "ERIN@example.test", stdin="second\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("already exists", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertEqual(self.rows(), before)

    def test_empty_or_missing_password_is_refused(self):
        r = self.user("add", "fay", stdin="\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("empty", r.stderr)
        self.assertIn("--no-password", r.stderr)
        r = self.user("add", "fay", stdin="")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no password on standard input", r.stderr)
        self.assertEqual(self.listing(), [])

    def test_importing_a_pbkdf2_hash(self):
        salt = b"0123456789abcdef"
        digest = hashlib.pbkdf2_hmac("sha256", b"imported pw", salt, 29000, 32)
        b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
        stored = "$pbkdf2-sha256$i=29000$" + b64(salt) + "$" + b64(digest)
        self.ok("add", "gus", "--hash-stdin", stdin=stored + "\n")
        self.assertEqual(self.rows()["gus"][0], stored)
        self.ok("verify", "gus", "--password-stdin", stdin="imported pw\n")
        r = self.user("add", "hal", "--hash-stdin", stdin="$scrypt$ln=40,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a usable password hash", r.stderr)


class Usage(UserTest):
    def assertUsage(self, *args, text=None):
        r = self.user(*args, stdin="pw\n")
        self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
        if text:
            self.assertIn(text, r.stderr)
        return r

    def test_wrong_usages_exit_2_and_change_nothing(self):
        self.assertUsage()
        self.assertUsage("frobnicate", text="unknown action")
        self.assertUsage("add", text="name the user")
        self.assertUsage("add", "two", "names")
        self.assertUsage("add", "not valid", text="not a valid user name")
        self.assertUsage("add", "x@@y", text="not a valid user name")
        self.assertUsage("add", "ivy", "--no-password", "--password-stdin", text="choose one")
        self.assertUsage("add", "ivy", "--bogus")
        self.assertUsage("delete")
        self.assertUsage("passwd")
        self.assertUsage("list", "extra")
        self.assertUsage("list", "--password-stdin")
        self.assertUsage("delete", "ivy", "--no-password")
        self.assertFalse(os.path.exists(self.db))

    def test_password_on_the_command_line_is_refused(self):
        r = self.assertUsage("add", "ivy", "--password=hunter2", text="never taken from the command line")
        self.assertNotIn("hunter2", r.stderr)
        self.assertUsage("passwd", "ivy", "--password", "hunter2")

    def test_missing_instance_is_one_line_exit_1(self):
        r = imta("user", "list", root=os.path.join(self.tmp, "nowhere"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("no imta instance", r.stderr)


class Manage(UserTest):
    def test_list_text_and_json(self):
        self.assertEqual(self.ok("list").stdout, "")
        self.ok("add", "zoe", stdin="pw\n")
        self.ok("add", "Adam@Example.Test", "--no-password")
        text = self.ok("list").stdout.splitlines()
        self.assertEqual(text[0].split(), ["NAME", "PASSWORD", "ENABLED", "CREATED"])
        self.assertEqual([line.split()[:3] for line in text[1:]],
                         [["adam@example.test", "no", "yes"], ["zoe", "yes", "yes"]])
        users = self.listing()
        self.assertEqual([u["name"] for u in users], ["adam@example.test", "zoe"])
        self.assertEqual([u["password"] for u in users], [False, True])
        self.assertTrue(all(u["enabled"] for u in users))
        year = time.gmtime().tm_year
        self.assertTrue(users[0]["created"].startswith(str(year)), users[0])

    def test_delete(self):
        self.ok("add", "kim", "--no-password")
        r = self.ok("delete", "KIM")
        self.assertIn("deleted user kim", r.stdout)
        self.assertEqual(self.rows(), {})
        r = self.user("delete", "kim")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such user", r.stderr)

    def test_passwd_changes_and_removes_the_password(self):
        self.ok("add", "lea", stdin="old\n")
        self.ok("passwd", "lea", "--password-stdin", stdin="new\n")
        self.assertTrue(scrypt_matches("new", self.rows()["lea"][0]))
        self.ok("verify", "lea", "--password-stdin", stdin="new\n")
        r = self.user("verify", "lea", "--password-stdin", stdin="old\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("wrong password", r.stdout)
        self.ok("passwd", "lea", "--no-password")
        self.assertIsNone(self.rows()["lea"][0])
        r = self.user("passwd", "nobody", stdin="x\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such user", r.stderr)

    def test_disable_stops_logins_and_enable_restores_them(self):
        self.ok("add", "max", stdin="pw\n")
        self.ok("disable", "max")
        self.assertEqual(self.rows()["max"][1], 0)
        r = self.user("verify", "max", stdin="pw\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("disabled", r.stdout)
        self.ok("enable", "max")
        self.ok("verify", "max", stdin="pw\n")
        self.assertEqual(self.user("disable", "nobody").returncode, 1)

    def test_verify_unknown_user(self):
        r = self.user("verify", "nobody", stdin="pw\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such user", r.stdout)

    def test_a_foreign_file_in_place_of_the_database_is_one_error_line(self):
        os.makedirs(os.path.dirname(self.db), exist_ok=True)
        with open(self.db, "w") as f:
            f.write("not a database at all, but long enough to look like a header\n" * 4)
        r = self.user("list")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("users.sqlite", r.stderr)


class Terminal(UserTest):
    """Password typed at a terminal: prompted twice, never echoed."""

    def run_on_terminal(self, args, typed):
        master, slave = pty.openpty()
        env = dict(os.environ)
        env.pop("IMTA_ROOT", None)
        proc = subprocess.Popen([IMTA, "--root", self.root, "user"] + args, stdin=slave, stderr=slave,
                                stdout=subprocess.PIPE, env=env)
        os.close(slave)
        seen = b""
        try:
            for line in typed:
                seen += self.read_until(master, b": ")
                os.write(master, line.encode() + b"\n")
            seen += self.read_until(master, None)
            out = proc.stdout.read().decode()
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            os.close(master)
        return proc.returncode, seen.decode(errors="replace"), out

    @staticmethod
    def read_until(fd, marker):
        """Reads the terminal until `marker` (or the end when None). The
        deadline only keeps a broken program from hanging the test run."""
        data = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if marker is not None and marker in data:
                return data
            ready, _, _ = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: the program closed the terminal
                return data
            if not chunk:
                return data
            data += chunk
        raise AssertionError("terminal output never showed %r; got %r" % (marker, data))

    def test_prompts_twice_without_echo(self):
        code, terminal, out = self.run_on_terminal(["add", "nia"], ["typed secret", "typed secret"])
        self.assertEqual(code, 0, terminal)
        self.assertIn("Password for nia", terminal)
        self.assertIn("Retype", terminal)
        self.assertNotIn("typed secret", terminal)
        self.assertIn("added user nia", out)
        self.assertTrue(scrypt_matches("typed secret", self.rows()["nia"][0]))

    def test_mismatched_retyping_changes_nothing(self):
        code, terminal, _ = self.run_on_terminal(["add", "oli"], ["one", "two"])
        self.assertEqual(code, 1)
        self.assertIn("do not match", terminal)
        self.assertEqual(self.rows(), {})


if __name__ == "__main__":
    unittest.main(verbosity=2)
