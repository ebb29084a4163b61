#!/usr/bin/env python3
"""sendmail(8) end to end: the real program on a temporary instance made with
`imta init` (found through IMTA_ROOT, as cron and PHP would find it), with
imtad (dispatcher and job controller) running on free loopback ports, or
stopped. Checked by what a user and an administrator see: exit codes,
standard error, the queue files, the Maildir of the local user and the
records in log/mail.log_current (source channel `l`).

No DNS: the instance's DNS_SERVERS points at a loopback port where nothing
answers, and no test that runs the daemon sends to a remote domain.

Run by meson with SENDMAIL_BIN, IMTA_BIN and IMTAD_BIN pointing at the
built programs."""
import os
import pwd
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))

import instance  # noqa: E402
from instance import DEADLINE, wait_for  # noqa: E402
from queue_file import parse_queue_file  # noqa: E402

SENDMAIL = os.environ.get("SENDMAIL_BIN", "build/tools/sendmail")

EX_OK, EX_USAGE, EX_NOUSER, EX_TEMPFAIL = 0, 64, 67, 75
ME = pwd.getpwuid(os.getuid()).pw_name


class Instance(instance.Instance):
    """tests/support/instance.py's with SMTP on a free port, no DNS and
    users root, alice and bob."""

    def __init__(self, options=""):
        super().__init__(prefix="imta-sendmail-e2e-")
        try:
            self.listen_smtp()
            self.no_dns()
            self.append("option.dat", options + "\n")
            self.imta("cnbuild")
            for user in ("root", "alice", "bob"):
                self.add_user(user)
        except BaseException:
            self.destroy()
            raise

    def sendmail(self, *args, stdin=b"", user=None):
        """Runs sendmail with IMTA_ROOT set (no --root: there is none)."""
        preexec = None
        if user is not None:
            def preexec():
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)
        return subprocess.run([SENDMAIL] + list(args), input=stdin, capture_output=True, env=self.env(),
                              timeout=DEADLINE, preexec_fn=preexec)

    # -- what happened ------------------------------------------------------------
    def queued(self, channel=None):
        """Paths of the queue files (of one channel, if given)."""
        files = self.queue_files()
        return sorted(p for c, paths in files.items() if channel in (None, c) for p in paths)

    def delivered(self, user, count=1):
        """Waits for `count` messages in the user's Maildir; their bytes."""
        return wait_for("%d message(s) for %s" % (count, user), lambda: len(self.maildir(user)) >= count and
                        self.maildir(user))

    def records(self, code):
        """(source, destination, rest) of the message records with `code`."""
        out = []
        for line in self.log_lines():
            f = line.split()
            if len(f) > 4 and f[4] == code:
                out.append((f[2], f[3], f[5:]))
            elif len(f) > 3 and f[3] == code:
                out.append((f[2], "", f[4:]))
        return out


def header_of(message):
    """The header of a message as the Maildir holds it (LF line ends)."""
    return message.split(b"\n\n", 1)[0].decode()


def field(header, name):
    m = re.search(r"^%s: (.*(?:\n[ \t].*)*)" % re.escape(name), header, re.M | re.I)
    return m.group(1) if m else None


class WithDaemon(unittest.TestCase):
    """imtad runs: what sendmail queues is delivered at once."""

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance(options="SENDMAIL_TRUSTED_USERS=%s" % ME)
        try:
            cls.inst.start()
        except Exception:
            cls.inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def test_cron_style(self):
        """cron: sendmail -FCronDaemon -i -B8BITMIME -oem root, a message
        without From, Date or Message-ID, with bare LF line ends."""
        before = len(self.inst.maildir("root"))
        r = self.inst.sendmail("-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root",
                               stdin=b"Subject: Cron <root@host> run-parts\nContent-Type: text/plain\n\n"
                                     b"line 1\n.\nline 3\n")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertIn(b"-oem ignored", r.stderr)  # a note, not a failure
        message = self.inst.delivered("root", before + 1)[-1]
        header = header_of(message)
        self.assertEqual(field(header, "From"), "CronDaemon <%s@example.test>" % ME)
        self.assertRegex(field(header, "Date"), r"^\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}$")
        self.assertRegex(field(header, "Message-ID"), r"^<[0-9A-Z]+@mail\.example\.test>$")
        received = field(header, "Received")
        self.assertIn("(from %s, uid %d)" % (ME, os.getuid()), received)
        self.assertIn("by mail.example.test (imta sendmail) id", received)
        self.assertIn("for <root@example.test>", received)
        # -i: the lone dot is text (the Maildir has LF line ends; the queue
        # file's CRLF is checked in WithoutDaemon.test_bare_lf_and_lone_dot).
        self.assertTrue(message.endswith(b"\n\nline 1\n.\nline 3\n"), message)
        # E (source l) then D, with the caller's address as envelope sender.
        mid = field(header, "Message-ID")
        enq = [r for r in self.inst.records("E") if mid in r[2]]
        self.assertEqual([(s, d) for s, d, _ in enq], [("l", "l")])
        self.assertEqual(enq[0][2][1:4], ["%s@example.test" % ME, "rfc822;root@example.test", "root@example.test"])
        wait_for("D record", lambda: [r for r in self.inst.records("D") if mid in r[2]])

    def test_php_style(self):
        """PHP's mail(): sendmail -t -i -f sender, recipients in To/Cc/Bcc,
        Bcc removed, an argument recipient added to the header's (Postfix's
        choice)."""
        counts = {u: len(self.inst.maildir(u)) for u in ("root", "alice", "bob")}
        text = (b"To: Alice <alice@example.test>\nCc: root@example.test\nBcc: bob@example.test\n"
                b"From: Web Shop <shop@example.org>\nSubject: Your order\n\nThanks.\n.\nBye.\n")
        r = self.inst.sendmail("-t", "-i", "-f", "bounces@example.org", stdin=text)
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(r.stderr, b"")
        for user in ("alice", "root", "bob"):
            message = self.inst.delivered(user, counts[user] + 1)[-1]
            self.assertTrue(message.startswith(b"Return-Path: <bounces@example.org>\n"), message[:80])
            header = header_of(message)
            self.assertIsNone(field(header, "Bcc"))
            self.assertEqual(field(header, "From"), "Web Shop <shop@example.org>")
            self.assertIn(b"\n\nThanks.\n.\nBye.\n", message)
            self.assertNotIn("for <", field(header, "Received"))  # several recipients
        # An argument recipient is added to those of the header.
        before = len(self.inst.maildir("bob"))
        r = self.inst.sendmail("-t", "-i", "bob", stdin=b"To: alice@example.test\nSubject: t\n\nx\n")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.inst.delivered("bob", before + 1)

    def test_smtp_dialogue(self):
        """sendmail -bs: the server's session on standard input/output."""
        before = len(self.inst.maildir("alice"))
        dialogue = (b"EHLO client.example.test\r\nMAIL FROM:<script@example.test>\r\n"
                    b"RCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n"
                    b"Subject: by -bs\r\nMessage-ID: <bs-1@example.test>\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        r = self.inst.sendmail("-bs", stdin=dialogue)
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        replies = r.stdout.decode().split("\r\n")
        self.assertTrue(replies[0].startswith("220 mail.example.test"), replies)
        codes = [line[:3] for line in replies if line[:3].isdigit() and (len(line) == 3 or line[3] == " ")]
        self.assertEqual(codes, ["220", "250", "250", "250", "550", "354", "250", "221"], r.stdout)
        self.assertIn("550 5.1.1 nobody@example.test: no such user", r.stdout.decode())
        message = self.inst.delivered("alice", before + 1)[-1]
        self.assertIn(b"Subject: by -bs\n", message)
        enq = [x for x in self.inst.records("E") if "<bs-1@example.test>" in x[2]]
        self.assertEqual([(s, d) for s, d, _ in enq], [("l", "l")])
        self.assertEqual(enq[0][2][1], "script@example.test")
        refused = [x for x in self.inst.records("J") if "nobody@example.test" in " ".join(x[2])]
        self.assertTrue(refused and refused[0][0] == "l", self.inst.log_lines())

    def test_queue_run(self):
        r = self.inst.sendmail("-q")
        self.assertEqual(r.returncode, EX_OK, r.stderr)


class WithoutDaemon(unittest.TestCase):
    """imtad is not running: sendmail queues all the same."""

    def setUp(self):
        self.inst = Instance()

    def tearDown(self):
        self.inst.destroy()

    def test_waits_in_the_queue_until_the_daemon_starts(self):
        r = self.inst.sendmail("alice", stdin=b"Subject: while down\n\nqueued\n")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        (path,) = self.inst.queued("l")
        envelope, recipients, message = parse_queue_file(path)
        self.assertEqual(envelope["source"], "l")
        self.assertEqual(envelope["from"], "%s@example.test" % ME)
        self.assertEqual([x["active"] for x in recipients], ["alice@example.test"])
        self.assertEqual(self.inst.maildir("alice"), [])
        self.inst.start()
        try:
            (delivered,) = self.inst.delivered("alice")
            self.assertIn(b"\n\nqueued\n", delivered)
            wait_for("an empty queue", lambda: not self.inst.queued())
        finally:
            self.inst.stop(graceful=True)

    def test_queue_run_without_controller(self):
        r = self.inst.sendmail("-q")
        self.assertEqual(r.returncode, EX_TEMPFAIL)
        self.assertIn(b"the job controller is not running", r.stderr)

    def test_bare_lf_and_lone_dot(self):
        """Bare LF becomes CRLF; without -i a lone dot ends the message."""
        r = self.inst.sendmail("bob@example.test", stdin=b"Subject: dots\n\nfirst\n..\nsecond\n.\nignored\n")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        (path,) = self.inst.queued("l")
        _, _, message = parse_queue_file(path)
        self.assertTrue(message.endswith(b"\r\n\r\nfirst\r\n..\r\nsecond\r\n"), message)
        self.assertNotIn(b"ignored", message)
        self.assertNotIn(b"\n", message.replace(b"\r\n", b""))
        self.assertTrue(message.startswith(b"Received: (from %s, uid %d)\r\n" % (ME.encode(), os.getuid())))

    def test_no_recipients(self):
        r = self.inst.sendmail(stdin=b"Subject: nobody\n\nx\n")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn(b"no recipients", r.stderr)
        r = self.inst.sendmail("-t", stdin=b"Subject: nobody\n\nx\n")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn(b"no recipients", r.stderr)
        self.assertEqual(self.inst.queued(), [])

    def test_no_input(self):
        """Standard input closed: 66 (EX_NOINPUT), as cron reports it."""
        r = subprocess.run([SENDMAIL, "alice"], capture_output=False, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.inst.env(), timeout=DEADLINE,
                           preexec_fn=lambda: os.close(0))
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn(b"no standard input", r.stderr)
        self.assertEqual(self.inst.queued(), [])

    def test_verify(self):
        r = self.inst.sendmail("-bv", "alice", "postmaster@example.test", "x@[192.0.2.1]")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(r.stdout.decode().splitlines(), [
            "alice@example.test: deliverable: channel l, address alice@example.test",
            "postmaster@example.test: deliverable: channel l, address root@example.test",
            "x@[192.0.2.1]: deliverable: channel tcp_local, address x@[192.0.2.1]",
        ])
        r = self.inst.sendmail("-bv", "alice", "nobody")
        self.assertEqual(r.returncode, EX_NOUSER)
        self.assertIn("nobody@example.test: undeliverable: 550 5.1.1", r.stdout.decode())
        self.assertEqual(self.inst.queued(), [])
        self.assertEqual(self.inst.records("E"), [])

    def test_unknown_recipient(self):
        """An unknown local user is refused (J record, exit 67); the others
        still get the message."""
        r = self.inst.sendmail("alice", "nobody", stdin=b"Subject: x\n\nx\n")
        self.assertEqual(r.returncode, EX_NOUSER)
        self.assertIn(b"nobody@example.test: 550 5.1.1", r.stderr)
        self.assertEqual(len(self.inst.queued("l")), 1)
        self.assertEqual([(s, d) for s, d, _ in self.inst.records("E")], [("l", "l")])
        self.assertEqual([s for s, _, _ in self.inst.records("J")], ["l"])
        r = self.inst.sendmail("nobody", stdin=b"x\n")
        self.assertEqual(r.returncode, EX_NOUSER)

    def test_remote_recipient_and_dsn_flags(self):
        r = self.inst.sendmail("-N", "success,failure", "-R", "hdrs", "-V", "env-42", "carol@remote.test",
                               stdin=b"Subject: out\n\nx\n")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        (path,) = self.inst.queued("tcp_local")
        envelope, recipients, _ = parse_queue_file(path)
        self.assertEqual(envelope["envid"], "env-42")
        self.assertEqual(envelope["ret"], "hdrs")
        self.assertEqual(recipients[0]["notify"], 3)
        self.assertEqual([(s, d) for s, d, _ in self.inst.records("E")], [("l", "tcp_local")])

    def test_legacy_flags_never_fail(self):
        r = self.inst.sendmail("-odi", "-oem", "-U", "-G", "-L", "cron", "-h", "5", "-C", "/etc/mail/sendmail.cf",
                               "-X", "/dev/null", "-e", "m", "-O", "Timeout=1", "alice", stdin=b"x\n")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(len(r.stderr.decode().splitlines()), 10)
        self.assertEqual(len(self.inst.queued("l")), 1)

    def test_bad_flag_values(self):
        r = self.inst.sendmail("-N", "sometimes", "alice", stdin=b"x\n")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn(b"-N sometimes", r.stderr)
        self.assertEqual(self.inst.queued(), [])

    def test_untrusted_sender(self):
        """-f from a user who is not trusted: the caller's address is the
        envelope sender, and the message says what was asked."""
        user = None
        if os.getuid() == 0:
            # Run as nobody, who may write the instance (as the group of a
            # set-group-id installation would).
            user = pwd.getpwnam("nobody")
            for dirpath, dirnames, filenames in os.walk(self.inst.root):
                for name in dirnames + filenames:
                    os.chmod(os.path.join(dirpath, name), 0o777)
            os.chmod(self.inst.root, 0o777)
            os.chmod(self.inst.tmp, 0o755)
        who = user.pw_name if user else ME
        r = self.inst.sendmail("-f", "boss@example.org", "alice", stdin=b"Subject: x\n\nx\n", user=user)
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertIn(b"not a trusted user", r.stderr)
        (path,) = self.inst.queued("l")
        envelope, _, message = parse_queue_file(path)
        self.assertEqual(envelope["from"], "%s@example.test" % who)
        self.assertIn(b"X-Authentication-Warning: mail.example.test: %s set sender to boss@example.org using -f\r\n"
                      % who.encode(), message)


if __name__ == "__main__":
    unittest.main()
