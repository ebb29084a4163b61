#!/usr/bin/env python3
"""End-to-end tests of `imta program`: the real binary on a temporary
instance, checked by what an administrator sees (exit codes, messages,
listings) and by what lands in db/programs.sqlite (read with Python's sqlite3).
Run by meson with IMTA_BIN pointing at the built binary."""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

IMTA = os.environ.get("IMTA_BIN", "build/tools/imta")


def imta(*args, root=None):
    cmd = [IMTA] + (["--root", root] if root else []) + list(args)
    env = dict(os.environ)
    env.pop("IMTA_ROOT", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, input="", timeout=60)


class ProgramTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imta-program-test-")
        self.root = os.path.join(self.tmp, "x")
        r = imta("init", self.root, "--domain", "example.test", "--hostname", "mail.example.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.db = os.path.join(self.root, "db", "programs.sqlite")
        self.prog = os.path.join(self.tmp, "prog.sh")
        with open(self.prog, "w") as f:
            f.write("#!/bin/sh\ncat >/dev/null\n")
        os.chmod(self.prog, 0o755)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_ok(self, *args):
        r = imta("program", *args, root=self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def run_fail(self, code, *args):
        r = imta("program", *args, root=self.root)
        self.assertEqual(r.returncode, code, (r.stdout, r.stderr))
        self.assertEqual(r.stdout, "")
        return r.stderr

    def rows(self):
        with sqlite3.connect(self.db) as db:
            return db.execute("SELECT name, path, arguments, user, timeout FROM programs ORDER BY name").fetchall()

    def test_add_list_change_delete(self):
        self.assertEqual(self.run_ok("-l"), "")  # nothing registered, no database yet
        self.assertFalse(os.path.exists(self.db))
        out = self.run_ok("-a", "Procmail", "-p", self.prog, "-g", "-d %s")
        self.assertEqual(out, "added program procmail: %s -d %%s\n" % self.prog)
        self.assertEqual(self.rows(), [("procmail", self.prog, "-d %s", "", 300)])
        self.assertEqual(os.stat(self.db).st_mode & 0o777, 0o600)
        # Sun's form: -a -m NAME; options in -x=value form.
        self.run_ok("-a", "-m", "bt", "-p=" + self.prog, "-e", "nobody", "-t", "20")
        listing = self.run_ok("-l").splitlines()
        self.assertEqual(listing[0].split(), ["NAME", "PATH", "USER", "TIMEOUT", "ARGUMENTS"])
        self.assertEqual(listing[1].split(), ["bt", self.prog, "nobody", "20"])
        self.assertEqual(listing[2].split(), ["procmail", self.prog, "nobody", "300", "-d", "%s"])
        objects = [json.loads(line) for line in self.run_ok("-l", "--json").splitlines()]
        self.assertEqual(objects[1], {"name": "procmail", "path": self.prog, "arguments": "-d %s",
                                      "user": "nobody", "timeout": 300})
        self.assertEqual(len(self.run_ok("-l", "bt").splitlines()), 2)
        self.assertEqual(self.run_ok("-c", "procmail", "-g", "--user=%s"),
                         "changed program procmail: %s --user=%%s\n" % self.prog)
        self.assertEqual(self.rows()[1], ("procmail", self.prog, "--user=%s", "", 300))
        self.assertEqual(self.run_ok("-d", "procmail"), "deleted program procmail\n")
        self.assertEqual([r[0] for r in self.rows()], ["bt"])

    def test_bad_paths_are_refused_clearly(self):
        cases = [
            ("relative/prog", "relative/prog: not an absolute path"),
            (os.path.join(self.tmp, "missing"), os.path.join(self.tmp, "missing") + ": no such file"),
            (self.tmp, self.tmp + ": not a regular file"),
        ]
        plain = os.path.join(self.tmp, "plain.txt")
        with open(plain, "w") as f:
            f.write("not a program\n")
        cases.append((plain, plain + ": not executable"))
        for path, message in cases:
            with self.subTest(path=path):
                err = self.run_fail(1, "-a", "p", "-p", path)
                self.assertIn(message, err)
                self.assertTrue(err.startswith("imta program: "), err)
        self.assertEqual(self.rows(), [])

    def test_other_errors(self):
        self.run_ok("-a", "p", "-p", self.prog)
        self.assertIn("program p already exists", self.run_fail(1, "-a", "p", "-p", self.prog))
        self.assertIn("no such program: q", self.run_fail(1, "-d", "q"))
        self.assertIn("no such program: q", self.run_fail(1, "-c", "q", "-t", "5"))
        self.assertIn("no such program: q", self.run_fail(1, "-l", "q"))
        self.assertIn("no such user: no-such-user-here", self.run_fail(1, "-a", "r", "-p", self.prog, "-e", "no-such-user-here"))
        self.assertIn("must be followed by s", self.run_fail(1, "-a", "r", "-p", self.prog, "-g", "%d"))
        self.assertIn("timeout", self.run_fail(1, "-a", "r", "-p", self.prog, "-t", "0"))
        # Mistakes in the command line: exit 2.
        self.assertIn("say what to do", self.run_fail(2))
        self.assertIn("name the program", self.run_fail(2, "-a", "-p", self.prog))
        self.assertIn("-a needs the program's path", self.run_fail(2, "-a", "r"))
        self.assertIn("choose one of", self.run_fail(2, "-a", "r", "-d", "r"))
        self.assertIn("not a valid program name", self.run_fail(2, "-a", "a/b", "-p", self.prog))
        self.assertIn("unknown option", self.run_fail(2, "-l", "--bogus"))
        self.assertIn("-g needs a value", self.run_fail(2, "-a", "r", "-p", self.prog, "-g"))
        self.assertEqual([r[0] for r in self.rows()], ["p"])

    def test_no_instance(self):
        r = imta("program", "-l", root=os.path.join(self.tmp, "nowhere"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no imta instance", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
