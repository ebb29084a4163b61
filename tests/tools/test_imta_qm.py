#!/usr/bin/env python3
"""End-to-end tests of `imta qm`: the real binary on a temporary instance made
with `imta init`, its queue filled through the real Store API by
tests/queue/enqueue_tool. Checked by what an administrator sees: output, exit
codes, files in queue/ and records in log/mail.log_current.

Run by meson with IMTA_BIN and ENQUEUE_TOOL pointing at the built programs."""
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

from enqueue import enqueue  # noqa: E402
from instance import IMTA, Instance  # noqa: E402

DATE = "Sat, 21 Nov 2026 10:31:05 +0000"


def message_size(sender, to, subject, body="Hello.", message_id=""):
    """The bytes enqueue_tool writes for a single message (see its source)."""
    text = "From: %s\r\nTo: %s\r\nSubject: %s\r\n" % (sender or "MAILER-DAEMON", ", ".join(to), subject)
    if message_id:
        text += "Message-ID: %s\r\n" % message_id
    text += "Date: %s\r\n\r\n%s\r\n" % (DATE, body)
    return len(text.encode())


class QmTest(unittest.TestCase):
    def setUp(self):
        self.inst = Instance(prefix="imta-qm-test-")
        self.tmp, self.root = self.inst.tmp, self.inst.root
        self.queue = os.path.join(self.root, "queue")
        self.locks = []

    def tearDown(self):
        for f in self.locks:
            f.close()
        self.inst.destroy()

    # ---- helpers -------------------------------------------------------------

    def qm(self, *args, stdin=None):
        env = dict(os.environ)
        env.pop("IMTA_ROOT", None)
        return subprocess.run([IMTA, "--root", self.root, "qm"] + list(args), capture_output=True,
                              text=True, input=stdin, env=env, timeout=300)

    def enqueue(self, channel="tcp_local", sender="alice@example.org", to=("bob@example.net",),
                subject="Quarterly report", count=1, defer=(), subdirs=0, body=None, message_id=None):
        options = ["--subject", subject, "--count", str(count), "--subdirs", str(subdirs)]
        if message_id:
            options += ["--message-id", message_id]
        names = enqueue(self.queue, channel, sender, to, defer=defer, body=body, options=options)
        self.assertEqual(len(names), count)
        return names  # "channel/file"

    def cnbuild(self):
        self.inst.imta("cnbuild")

    def edit(self, name, old, new):
        self.inst.replace(name, old, new, 1)

    def files(self, channel=None):
        """Queue file names on disk (`channel/file`), subfolders included."""
        out = set()
        for dirpath, _, names in os.walk(self.queue):
            rel = os.path.relpath(dirpath, self.queue).split(os.sep)
            if rel[0] in (".", ".bad"):
                continue
            for n in names:
                if re.match(r"^[0-9A-Z]{2}[0-9A-Z]+\.(00|HELD)$", n) and (channel is None or rel[0] == channel):
                    out.add(rel[0] + "/" + n)
        return out

    def path_of(self, name):
        channel, file = name.split("/")
        for dirpath, _, names in os.walk(os.path.join(self.queue, channel)):
            if file in names:
                return os.path.join(dirpath, file)
        self.fail("no file " + name)

    def claim(self, name):
        """Holds the file's exclusive lock as a channel master delivering it would."""
        f = open(self.path_of(name), "rb")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        self.locks.append(f)
        return f

    def log_lines(self):
        return self.inst.log_lines()

    def json_lines(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(line) for line in r.stdout.splitlines()]

    @staticmethod
    def ident(name):
        """The id part of `channel/ZZ<id>.00`."""
        return name.split("/")[1][2:].split(".")[0]


class Directory(QmTest):
    def test_empty_queue(self):
        r = self.qm("directory")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the queue is empty", r.stdout)
        r = self.qm("directory", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_human_listing_shows_everything_per_message(self):
        (fresh,) = self.enqueue(to=["bob@example.net", "carol@example.net"])
        (tried,) = self.enqueue(channel="l", sender="dave@example.org", to=["erin@example.test"],
                                defer=["smtp;451 4.7.1 try later", "smtp;452 4.2.2 mailbox full"])
        r = self.qm("directory")
        self.assertEqual(r.returncode, 0, r.stderr)
        blocks = r.stdout.strip().split("\n\n")
        self.assertEqual(len(blocks), 3, r.stdout)  # two messages and the trailer
        by_file = {b.split()[0]: b for b in blocks[:2]}
        b = by_file[fresh.split("/")[1]]
        self.assertRegex(b, r"^\S+\.00  tcp_local  %d bytes  age \d+s  0 attempts  next retry now"
                         % message_size("alice@example.org", ["bob@example.net", "carol@example.net"],
                                        "Quarterly report"))
        self.assertIn("\n  from alice@example.org\n", b)
        self.assertIn("\n  to   bob@example.net", b)
        self.assertIn("\n  to   carol@example.net", b)
        b = by_file[tried.split("/")[1]]
        self.assertTrue(tried.split("/")[1].startswith("ZX"), tried)
        # Two failures: the default table says 120 minutes after the last attempt.
        self.assertRegex(b, r"  l  \d+ bytes  age \d+s  2 attempts  next retry \d\d-\w{3}-\d{4} "
                            r"\d\d:\d\d:\d\d \(in 1h5\dm\)")
        self.assertIn("to   erin@example.test  (last error: smtp;452 4.2.2 mailbox full)", b)
        self.assertIn("-- 2 messages, 3 recipients", blocks[2])

    def test_list_is_directory(self):
        self.enqueue(count=2)
        a, b = self.qm("directory"), self.qm("list")
        self.assertEqual(b.returncode, 0, b.stderr)
        self.assertEqual(re.sub(r"age \d+s", "", a.stdout), re.sub(r"age \d+s", "", b.stdout))

    def test_json_has_one_object_per_message_with_every_field(self):
        before = int(time.time())
        (fresh,) = self.enqueue(sender="jörg@example.org", to=["bob@example.net", "carol@example.net"],
                                message_id="<m1@example.org>")
        (tried,) = self.enqueue(channel="l", to=["erin@example.test"], defer=["smtp;451 4.7.1 \"busy\""])
        after = int(time.time()) + 1
        rows = {o["file"]: o for o in self.json_lines(self.qm("directory", "--json"))}
        self.assertEqual(set(rows), {fresh.split("/")[1], tried.split("/")[1]})
        o = rows[fresh.split("/")[1]]
        self.assertEqual(o["channel"], "tcp_local")
        self.assertEqual(o["id"], self.ident(fresh))
        self.assertEqual(o["path"], self.path_of(fresh))
        self.assertTrue(before <= o["arrival_time"] <= after)
        self.assertEqual(o["size"], message_size("jörg@example.org", ["bob@example.net", "carol@example.net"],
                                                 "Quarterly report", message_id="<m1@example.org>"))
        self.assertEqual(o["sender"], "jörg@example.org")
        self.assertEqual(o["message_id"], "<m1@example.org>")
        self.assertEqual(o["recipients"], [
            {"address": "bob@example.net", "original": "bob@example.net", "last_error": None},
            {"address": "carol@example.net", "original": "carol@example.net", "last_error": None}])
        self.assertEqual(o["attempts"], 0)
        self.assertIsNone(o["last_attempt_time"])
        self.assertEqual(o["next_retry_time"], o["arrival_time"])  # never tried: due at once
        self.assertIs(o["held"], False)
        o = rows[tried.split("/")[1]]
        self.assertEqual(o["attempts"], 1)
        self.assertEqual(o["recipients"][0]["last_error"], 'smtp;451 4.7.1 "busy"')
        self.assertEqual(o["next_retry_time"], o["last_attempt_time"] + 3600)  # 60 minutes after one failure

    def test_backoff_keyword_sets_the_next_retry(self):
        self.edit("imta.cnf", "l maxjobs 4 pool LOCAL_POOL", 'l maxjobs 4 pool LOCAL_POOL backoff "pt5m" "pt10m"')
        self.cnbuild()
        self.enqueue(channel="l", to=["erin@example.test"], defer=["a", "b", "c"])
        (o,) = self.json_lines(self.qm("directory", "--json"))
        self.assertEqual(o["attempts"], 3)
        self.assertEqual(o["next_retry_time"], o["last_attempt_time"] + 600)  # the last interval repeats

    def test_filters(self):
        self.enqueue(sender="alice@example.org", to=["bob@example.net"])
        self.enqueue(sender="mallory@spam.example", to=["bob@example.net", "carol@other.example"])
        self.enqueue(channel="l", sender="alice@example.org", to=["erin@example.test"])
        (held,) = self.enqueue(channel="l", sender="zed@example.org", to=["erin@example.test"])
        self.assertEqual(self.qm("hold", self.ident(held)).returncode, 0)

        def senders(*args):
            return sorted(o["sender"] for o in self.json_lines(self.qm("directory", "--json", *args)))

        self.assertEqual(senders("-from=ALICE@"), ["alice@example.org", "alice@example.org"])
        self.assertEqual(senders("-to=other.example"), ["mallory@spam.example"])
        self.assertEqual(senders("-to=erin"), ["alice@example.org", "zed@example.org"])
        self.assertEqual(senders("-held"), ["zed@example.org"])
        self.assertEqual(senders("-channel=l"), ["alice@example.org", "zed@example.org"])
        self.assertEqual(senders("l"), ["alice@example.org", "zed@example.org"])
        self.assertEqual(senders("tcp_local", "-from=alice"), ["alice@example.org"])
        self.assertEqual(len(senders("-newer=1h")), 4)
        self.assertEqual(senders("-older=1h"), [])
        r = self.qm("directory", "-older=1h")
        self.assertIn("no queued message matches", r.stdout)

    def test_age_filters_split_by_arrival(self):
        (old,) = self.enqueue(sender="old@example.org")
        time.sleep(2.5)
        start = time.time()
        (new,) = self.enqueue(sender="new@example.org")
        older = [o["sender"] for o in self.json_lines(self.qm("directory", "--json", "-older=2s"))]
        newer = [o["sender"] for o in self.json_lines(self.qm("directory", "--json", "-newer=PT2S"))]
        self.assertIn("old@example.org", older)
        self.assertNotIn("old@example.org", newer)
        if time.time() - start < 1.5:  # the new one can only be 2 s old on a stalled machine
            self.assertEqual(older, ["old@example.org"])
            self.assertEqual(newer, ["new@example.org"])

    def test_bad_arguments_are_usage_errors(self):
        for args in (["-older=2"], ["-older=soon"], ["-newer=5x"], ["a", "b"], ["-frobnicate"],
                     ["tcp_local", "-channel=l"]):
            r = self.qm("directory", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertEqual(r.stdout, "")

    def test_unknown_channel_is_an_error(self):
        r = self.qm("directory", "nosuch")
        self.assertEqual(r.returncode, 1)
        self.assertIn('no channel "nosuch"', r.stderr)

    def test_unknown_subcommand(self):
        r = self.qm("frob")
        self.assertEqual(r.returncode, 2)
        self.assertIn('unknown subcommand "frob"', r.stderr)
        self.assertEqual(self.qm().returncode, 2)

    def test_subdirs_channels_are_listed_and_acted_on(self):
        self.edit("imta.cnf", "tcp_local smtp mx", "tcp_local subdirs 4 smtp mx")
        self.cnbuild()
        names = self.enqueue(count=20, subdirs=4)
        folders = {os.path.dirname(self.path_of(n)) for n in names}
        self.assertGreater(len(folders), 1)  # spread over subfolders
        for f in folders:
            self.assertRegex(os.path.relpath(f, self.queue), r"^tcp_local/\d+$")
        rows = self.json_lines(self.qm("directory", "--json"))
        self.assertEqual(sorted(o["file"] for o in rows), sorted(n.split("/")[1] for n in names))
        r = self.qm("delete", self.ident(names[0]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.files()), 19)


class Summarize(QmTest):
    def test_counts_per_channel_and_total(self):
        self.enqueue(count=3, to=["a@example.net", "b@example.net"])
        (held,) = self.enqueue(channel="l", to=["erin@example.test"])
        self.qm("hold", self.ident(held))
        r = self.qm("summarize")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {l.split()[0]: l.split() for l in r.stdout.splitlines()[1:]}
        self.assertEqual(rows["tcp_local"][1:3], ["3", "6"])
        self.assertEqual(rows["tcp_local"][4], "0")
        self.assertEqual(rows["l"][1:3], ["1", "1"])
        self.assertEqual(rows["l"][4], "1")
        self.assertEqual(rows["process"][1:3], ["0", "0"])  # every channel, empty ones too
        self.assertEqual(rows["total"][1:3], ["4", "7"])
        self.assertEqual(rows["total"][4], "1")
        self.assertEqual(int(rows["total"][3]), int(rows["tcp_local"][3]) + int(rows["l"][3]))

        objs = self.json_lines(self.qm("summarize", "--json"))
        total = objs[-1]
        self.assertIs(total["total"], True)
        self.assertIsNone(total["channel"])
        self.assertEqual((total["messages"], total["recipients"], total["held"]), (4, 7, 1))
        tcp = next(o for o in objs if o["channel"] == "tcp_local")
        self.assertEqual(tcp["messages"], 3)
        self.assertIsNotNone(tcp["oldest_arrival_time"])


class ReadAndHistory(QmTest):
    def test_read_shows_envelope_and_header_content_adds_body(self):
        (name,) = self.enqueue(to=["bob@example.net"], subject="Budget 2027", body="The secret body.",
                               message_id="<r1@example.org>")
        r = self.qm("read", self.ident(name))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^file\s+" + re.escape(name) + "$")
        self.assertRegex(r.stdout, r"(?m)^from\s+alice@example.org$")
        self.assertRegex(r.stdout, r"(?m)^to\s+bob@example.net$")
        self.assertRegex(r.stdout, r"(?m)^message-id\s+<r1@example.org>$")
        self.assertIn("\nSubject: Budget 2027\n", r.stdout)
        self.assertNotIn("secret body", r.stdout)
        self.assertNotIn("\r", r.stdout)
        r = self.qm("read", name.split("/")[1], "-content")  # the whole file name works too
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Subject: Budget 2027\n", r.stdout)
        self.assertIn("\n\nThe secret body.\n", r.stdout)
        r = self.qm("read", self.ident(name).lower())  # ids are not case sensitive
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_read_unknown_id_is_an_error(self):
        r = self.qm("read", "0MWQ0000000000NOPE")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such message: 0MWQ0000000000NOPE", r.stderr)
        self.assertEqual(self.qm("read").returncode, 2)

    def test_history_lists_every_attempt(self):
        (name,) = self.enqueue(to=["bob@example.net"], defer=["smtp;451 first", "smtp;452 second"])
        r = self.qm("history", self.ident(name))
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertRegex(lines[0], r"\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d  deferred  bob@example.net  smtp;451 first$")
        self.assertTrue(lines[1].endswith("smtp;452 second"))
        objs = self.json_lines(self.qm("history", "--json", self.ident(name)))
        self.assertEqual([o["diagnostic"] for o in objs], ["smtp;451 first", "smtp;452 second"])
        self.assertEqual({o["outcome"] for o in objs}, {"deferred"})
        # A file name from before the retries still finds the message.
        r = self.qm("history", "ZZ" + self.ident(name) + ".00")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 2)

    def test_history_of_a_new_message_is_empty_with_a_note(self):
        (name,) = self.enqueue()
        r = self.qm("history", self.ident(name))
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "")
        self.assertIn("no delivery attempt recorded", r.stderr)


class Delete(QmTest):
    def test_delete_removes_and_logs_a_k_record_per_recipient(self):
        (name,) = self.enqueue(to=["bob@example.net", "carol@example.net"], message_id="<d1@example.org>")
        (other,) = self.enqueue()
        path = self.path_of(name)
        r = self.qm("delete", self.ident(name))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("deleted " + name, r.stdout)
        self.assertEqual(self.files(), {other})
        lines = self.log_lines()
        self.assertEqual(len(lines), 2, lines)
        for line, rcpt in zip(lines, ["bob@example.net", "carol@example.net"]):
            # date time, channel column, K, size in blocks, from, rfc822;orig, active, file, message-id
            self.assertRegex(line, r"^\d\d-\w{3}-\d{4} \d\d:\d\d:\d\d\.\d\d tcp_local {16} K 1 alice@example.org "
                             r"rfc822;%s %s %s <d1@example.org>  deleted by \S+ \(imta qm\)$"
                             % (re.escape(rcpt), re.escape(rcpt), re.escape(path)))

    def test_log_options_shape_the_k_records(self):
        self.edit("option.dat", "LOG_FILENAME=1", "LOG_FILENAME=0\nLOG_DIAGNOSTICS=0")
        self.edit("option.dat", "LOG_NOTARY=0", "LOG_NOTARY=1")
        self.edit("option.dat", "BLOCK_SIZE=1024", "BLOCK_SIZE=10")
        self.cnbuild()
        (name,) = self.enqueue(to=["bob@example.net"], message_id="<d2@example.org>")
        size = message_size("alice@example.org", ["bob@example.net"], "Quarterly report",
                            message_id="<d2@example.org>")
        self.assertEqual(self.qm("delete", self.ident(name)).returncode, 0)
        (line,) = self.log_lines()
        self.assertTrue(line.endswith(" K %d alice@example.org rfc822;bob@example.net bob@example.net 0 "
                                      "<d2@example.org>" % ((size + 9) // 10)), line)

    def test_channels_without_logging_write_no_records(self):
        self.edit("imta.cnf", "bitbucket maxjobs 1", "bitbucket nologging maxjobs 1")
        self.cnbuild()
        (name,) = self.enqueue(channel="bitbucket")
        self.assertEqual(self.qm("delete", self.ident(name)).returncode, 0)
        self.assertEqual(self.files(), set())
        self.assertEqual(self.log_lines(), [])

    def test_separate_connection_log_leaves_k_records_in_mail_log(self):
        self.edit("option.dat", "SEPARATE_CONNECTION_LOG=0", "SEPARATE_CONNECTION_LOG=1")
        self.cnbuild()
        (name,) = self.enqueue()
        self.assertEqual(self.qm("delete", self.ident(name)).returncode, 0)
        self.assertEqual(len(self.log_lines()), 1)
        self.assertFalse(os.path.exists(os.path.join(self.root, "log", "connection.log_current")))

    def test_ids_as_id_or_file_name_and_from_stdin(self):
        names = self.enqueue(count=4)
        r = self.qm("delete", names[0].split("/")[1], self.ident(names[1]))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.qm("delete", "-", stdin=self.ident(names[2]) + "\n" + names[3] + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.files(), set())
        self.assertEqual(len(self.log_lines()), 4)

    def test_jq_pipeline(self):
        self.enqueue(sender="mallory@spam.example", count=3)
        (keep,) = self.enqueue(sender="alice@example.org")
        env = dict(os.environ, IMTA=IMTA, ROOT=self.root)
        env.pop("IMTA_ROOT", None)
        select = ("jq -r 'select(.sender | test(\"spam\")) | .id'" if shutil.which("jq") else
                  "python3 -c 'import json,sys\nfor l in sys.stdin:\n o=json.loads(l)\n "
                  "if \"spam\" in o[\"sender\"]: print(o[\"id\"])'")
        r = subprocess.run('"$IMTA" --root "$ROOT" qm directory --json | %s | "$IMTA" --root "$ROOT" qm delete -'
                           % select, shell=True, capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 3)
        self.assertEqual(self.files(), {keep})

    def test_unknown_id_is_an_error_and_the_rest_is_done(self):
        (name,) = self.enqueue()
        r = self.qm("delete", "0MWQ0000000000NOPE", self.ident(name))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such message: 0MWQ0000000000NOPE", r.stderr)
        self.assertEqual(self.files(), set())

    def test_all_must_be_spelled_exactly(self):
        names = set(self.enqueue(count=2))
        for spelling in (["-al"], ["-ALL"], ["--al"], ["all"], ["ALL"], ["-all=yes"], ["-all", self.ident(min(names))]):
            r = self.qm("delete", *spelling)
            self.assertEqual(r.returncode, 2, (spelling, r.stderr))
            self.assertEqual(self.files(), names, spelling)
        self.assertEqual(self.qm("delete").returncode, 2)
        r = self.qm("delete", "-all")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.files(), set())
        self.assertEqual(len(self.log_lines()), 2)

    def test_all_in_one_channel(self):
        self.enqueue(count=2)
        (keep,) = self.enqueue(channel="l", to=["erin@example.test"])
        r = self.qm("delete", "-all", "-channel=tcp_local")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.files(), {keep})

    def test_a_message_being_delivered_is_left_alone(self):
        (busy,) = self.enqueue()
        (free,) = self.enqueue()
        self.claim(busy)
        r = self.qm("delete", self.ident(busy))
        self.assertEqual(r.returncode, 1)
        self.assertIn(busy + ": being delivered; left alone", r.stderr)
        self.assertEqual(self.files(), {busy, free})
        r = self.qm("delete", "-all")
        self.assertEqual(r.returncode, 1)
        self.assertIn("being delivered", r.stderr)
        self.assertIn("deleted " + free, r.stdout)
        self.assertEqual(self.files(), {busy})
        self.assertEqual(len(self.log_lines()), 1)  # only the one really deleted


class HoldRelease(QmTest):
    def test_hold_and_release_rename_the_file(self):
        (name,) = self.enqueue()
        r = self.qm("hold", self.ident(name))
        self.assertEqual(r.returncode, 0, r.stderr)
        held = name.replace(".00", ".HELD")
        self.assertEqual(self.files(), {held})
        self.assertIn("held " + held, r.stdout)
        (o,) = self.json_lines(self.qm("directory", "--json"))
        self.assertIs(o["held"], True)
        self.assertIsNone(o["next_retry_time"])
        self.assertIn("  held\n", self.qm("directory").stdout)
        r = self.qm("hold", self.ident(name))  # already held: said, not an error
        self.assertEqual(r.returncode, 0)
        self.assertIn("already held", r.stderr)
        r = self.qm("release", name.split("/")[1])  # the old name still finds it
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.files(), {name})

    def test_all(self):
        names = set(self.enqueue(count=3))
        self.assertEqual(self.qm("hold", "-all").returncode, 0)
        self.assertEqual(self.files(), {n.replace(".00", ".HELD") for n in names})
        self.assertEqual(len(self.json_lines(self.qm("directory", "--json", "-held"))), 3)
        self.assertEqual(self.qm("release", "-Al").returncode, 2)
        self.assertEqual(self.qm("release", "-all").returncode, 0)
        self.assertEqual(self.files(), names)

    def test_a_message_being_delivered_is_not_held(self):
        (name,) = self.enqueue()
        self.claim(name)
        r = self.qm("hold", self.ident(name))
        self.assertEqual(r.returncode, 1)
        self.assertIn("being delivered; left alone", r.stderr)
        self.assertEqual(self.files(), {name})


class Clean(QmTest):
    def setUp(self):
        super().setUp()
        self.spam = set(self.enqueue(sender="mallory@spam.example", subject="Cheap watches for you", count=3,
                                     body="Visit http://spam.example/buy now"))
        self.ham = set(self.enqueue(sender="alice@example.org", subject="Quarterly report", count=2))
        self.local = set(self.enqueue(channel="l", sender="mallory@spam.example", to=["erin@example.test"],
                                      subject="Cheap watches for you"))

    def test_short_match_strings_are_refused(self):
        r = self.qm("clean", "-subject=Cheap", "-delete")
        self.assertEqual(r.returncode, 2)
        self.assertIn("shorter than 8 characters", r.stderr)
        self.assertIn("MIN_CLEAN_MATCH_LENGTH", r.stderr)
        self.assertEqual(self.files(), self.spam | self.ham | self.local)
        r = self.qm("clean", "-subject=Cheap", "-delete", "-min_length=5")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 messages matched, 4 deleted", r.stdout)
        self.assertEqual(self.files(), self.ham)

    def test_the_minimum_comes_from_option_dat(self):
        with open(os.path.join(self.root, "config", "option.dat"), "a") as f:
            f.write("MIN_CLEAN_MATCH_LENGTH=4\n")
        self.cnbuild()
        r = self.qm("clean", "-subject=Cheap", "-hold")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("4 messages matched, 4 held", r.stdout)

    def test_hold_by_sender_in_one_channel(self):
        r = self.qm("clean", "tcp_local", "-from=mallory@spam.example", "-hold")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("3 messages matched, 3 held", r.stdout)
        self.assertEqual(self.files(), {n.replace(".00", ".HELD") for n in self.spam} | self.ham | self.local)

    def test_content_and_to_match(self):
        r = self.qm("clean", "-content=spam.example/buy", "-delete")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("3 messages matched, 3 deleted", r.stdout)
        self.assertEqual(self.files(), self.ham | self.local)
        r = self.qm("clean", "-to=erin@example.test", "-delete")
        self.assertIn("1 message matched, 1 deleted", r.stdout)
        self.assertEqual(self.files(), self.ham)
        self.assertEqual(len(self.log_lines()), 4)

    def test_criteria_combine_with_and_unless_told_or(self):
        r = self.qm("clean", "-from=mallory@spam", "-subject=Quarterly report", "-hold")
        self.assertIn("0 messages matched", r.stdout)
        r = self.qm("clean", "-from=mallory@spam", "-subject=Quarterly report", "-match=OR", "-hold")
        self.assertIn("6 messages matched, 6 held", r.stdout)

    def test_being_delivered_is_left_alone(self):
        busy = min(self.spam)
        self.claim(busy)
        r = self.qm("clean", "-subject=Cheap watches", "-delete")
        self.assertEqual(r.returncode, 1)
        self.assertIn("4 messages matched, 3 deleted, 1 left alone", r.stdout)
        self.assertEqual(self.files(), self.ham | {busy})

    def test_usage_errors(self):
        for args in (["-subject=Cheap watches"], ["-subject=Cheap watches", "-hold", "-delete"],
                     ["-hold"], ["-from=", "-hold"], ["-subject=Cheap watches", "-hold", "-match=XOR"],
                     ["-subject=Cheap watches", "-hold", "-min_length=0"]):
            r = self.qm("clean", *args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
        self.assertEqual(self.files(), self.spam | self.ham | self.local)


class BigQueue(QmTest):
    def test_directory_json_streams_ten_thousand_messages(self):
        t0 = time.monotonic()
        self.enqueue(count=10000)
        t_enqueue = time.monotonic() - t0
        env = dict(os.environ)
        env.pop("IMTA_ROOT", None)
        t0 = time.monotonic()
        with subprocess.Popen([IMTA, "--root", self.root, "qm", "directory", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) as p:
            first = p.stdout.readline()
            t_first = time.monotonic() - t0
            rest = p.stdout.read()
            err = p.stderr.read()
            p.wait(timeout=300)
            t_all = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, err)
        lines = [first] + rest.splitlines()
        self.assertEqual(len(lines), 10000)
        self.assertEqual(len({json.loads(l)["id"] for l in lines}), 10000)
        print("\n10,000 messages: enqueue %.2f s; directory --json first line after %.3f s, all after %.2f s"
              % (t_enqueue, t_first, t_all))


if __name__ == "__main__":
    unittest.main(verbosity=2)
