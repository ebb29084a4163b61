#!/usr/bin/env python3
"""End-to-end tests of imtad's job controller.

A temporary instance from `imta init` (dispatcher on a free loopback port,
plus a periodic `bitbucket_slow` channel), imtad in the foreground in its
own process group. Mail goes in by SMTP; the checks are what an
administrator sees: the queue folders, log/mail.log_current, and the output
and exit codes of `imta submit`, `imta run`, `imta cache -view`, `imta qm
jobs` and `imta process`. Teardown kills the whole process group.

Run by meson with IMTAD_BIN and IMTA_BIN pointing at the built programs.
"""
import os
import re
import shutil
import signal
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))

import instance  # noqa: E402
from instance import DEADLINE, wait_for  # noqa: E402


class Instance(instance.Instance):
    """tests/support/instance.py's, with SMTP on a free port and a periodic
    channel bitbucket_slow."""

    def __init__(self):
        super().__init__(prefix="imta-jobs-e2e-")
        try:
            self.port = self.listen_smtp()
            # A periodic channel: its mail waits for `imta submit` (or the sweep).
            cnf = self.read("imta.cnf")
            cnf = cnf.replace("bitbucket-daemon         $U%bitbucket-daemon@bitbucket-daemon\n",
                              "bitbucket-daemon         $U%bitbucket-daemon@bitbucket-daemon\n"
                              "slow-daemon              $U%slow-daemon@bitbucket_slow-daemon\n", 1)
            cnf += "\nbitbucket_slow periodic maxjobs 1 pool LOCAL_POOL\nbitbucket_slow-daemon\n"
            self.write("imta.cnf", cnf)
            self.imta("cnbuild")
        except BaseException:
            self.destroy()
            raise

    def send(self, rcpt):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=DEADLINE) as s:
            s.ehlo("client.example")
            code, text = s.mail("adam@example.test")[0], None
            assert code == 250
            code, text = s.rcpt(rcpt)
            assert code == 250, (code, text)
            code, text = s.data(b"From: adam@example.test\r\nTo: %s\r\nSubject: jobs\r\n\r\nHello.\r\n" % rcpt.encode())
            assert code == 250, (code, text)
            return re.search(r"queued as (\S+)", text.decode()).group(1)

    def files(self, channel):
        out = []
        for dirpath, _, names in os.walk(self.path("queue", channel)):
            out += [os.path.join(dirpath, n) for n in names if not n.startswith(".")]
        return sorted(out)

    def log_lines(self, pattern=None):
        """The lines of mail.log_current (those matching `pattern`, if given)."""
        return [l for l in super().log_lines() if pattern is None or re.search(pattern, l)]


class JobControllerTest(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.inst.start()

    def tearDown(self):
        self.inst.destroy()

    def test_bitbucket_mail_leaves_and_hold_mail_stays(self):
        inst = self.inst
        qid = inst.send("nobody@bitbucket-daemon")
        d = wait_for("the bitbucket D record", lambda: inst.log_lines(r" bitbucket\s+D 1 adam@example.test "))
        self.assertIn("nobody@bitbucket-daemon", d[0])
        self.assertIn("/queue/bitbucket/ZZ", d[0])
        wait_for("the bitbucket file to go", lambda: not inst.files("bitbucket"))
        # The dispatcher writes its E record from its own process (every 100 ms).
        e = wait_for("the E record", lambda: inst.log_lines(r" bitbucket\s+E 1 adam@example.test "
                                                            r"rfc822;nobody@bitbucket-daemon"))
        self.assertEqual(len(e), 1)

        inst.send("someone@hold-daemon")
        held = wait_for("a .HELD file", lambda: [f for f in inst.files("hold") if f.endswith(".HELD")])
        self.assertEqual(len(held), 1)
        self.assertEqual(inst.files("hold"), held)
        self.assertFalse(inst.log_lines(r" hold\s+[DQR] "))
        view = inst.imta("cache", "-view")
        self.assertNotIn(os.path.basename(held[0])[2:-5], view.stdout)  # held files are not in the cache
        self.assertTrue(qid)

    def test_delivered_files_are_reused_for_new_mail(self):
        # QUEUE_RECYCLE (default 1): the job controller keeps the delivered
        # file in queue/.recycle, the SMTP server writes a later message into it.
        inst = self.inst
        inst.send("nobody@bitbucket-daemon")
        recycle = inst.path("queue", ".recycle")
        slots = wait_for("a file in queue/.recycle", lambda: os.path.isdir(recycle) and os.listdir(recycle))
        self.assertEqual(len(slots), 1)
        self.assertRegex(slots[0], r"^\d{4}$")
        inode = os.stat(os.path.join(recycle, slots[0])).st_ino
        time.sleep(0.3)  # the SMTP server looks into an empty .recycle at most every 100 ms
        qid = inst.send("someone@hold-daemon")
        held = wait_for("a .HELD file", lambda: [f for f in inst.files("hold") if f.endswith(".HELD")])
        self.assertEqual(os.stat(held[0]).st_ino, inode)
        self.assertEqual(os.listdir(recycle), [])
        with open(held[0], "rb") as f:
            head = f.read(200).decode("ascii", "replace")
        self.assertRegex(head, r"\ncheck [0-9A-F]{8}\nid %s\n" % re.escape(qid))
        self.assertIn(qid, os.path.basename(held[0]))
        # A file delivered again with recycling off is simply removed.
        inst.stop(graceful=True)
        inst.append("option.dat", "\nQUEUE_RECYCLE=0\n")
        inst.imta("cnbuild")
        inst.start()
        inst.send("nobody@bitbucket-daemon")
        wait_for("the second bitbucket D record",
                 lambda: len(inst.log_lines(r" bitbucket\s+D 1 adam@example.test ")) == 2)
        wait_for("the bitbucket file to go", lambda: not inst.files("bitbucket"))
        self.assertEqual(os.listdir(recycle), [])

    def test_periodic_channel_waits_for_submit_and_cache_shows_it(self):
        inst = self.inst
        inst.send("later@slow-daemon")
        f = wait_for("the queued file", lambda: inst.files("bitbucket_slow"))
        name = os.path.basename(f[0])
        view = wait_for("the file in the cache", lambda: name in inst.imta("cache", "-view").stdout and
                        inst.imta("cache", "-view", "bitbucket_slow").stdout)
        self.assertRegex(view, r"bitbucket_slow\s+%s\s+0  now" % re.escape(name))
        self.assertIn("bitbucket_slow: 1 files (0 waiting, 1 due, 0 in delivery), 0 jobs, periodic", view)
        time.sleep(1.5)  # the controller's loop runs every second: a periodic channel still waits
        self.assertEqual(inst.files("bitbucket_slow"), f)

        r = inst.imta("submit", "bitbucket_slow")
        self.assertIn("asked the job controller to run bitbucket_slow now", r.stdout)
        wait_for("the file to go", lambda: not inst.files("bitbucket_slow"))
        wait_for("its D record", lambda: inst.log_lines(r" bitbucket_slow\s+D 1 "))
        view = inst.imta("cache", "-view", "bitbucket_slow").stdout
        self.assertNotIn(name, view)
        self.assertRegex(view, r"(the job controller holds no files of channel bitbucket_slow|"
                               r"bitbucket_slow: 0 files \(0 waiting, 0 due, 0 in delivery\))")

        r = inst.imta("submit", "no_such_channel", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn('no channel "no_such_channel" in imta.cnf', r.stderr)

    def test_file_dropped_by_hand_is_found_by_the_rescan(self):
        inst = self.inst
        inst.send("drop@hold-daemon")
        held = wait_for("a .HELD file", lambda: [f for f in inst.files("hold") if f.endswith(".HELD")])[0]
        # Moved by hand into the bitbucket folder as a fresh file: no notification.
        base = os.path.basename(held)
        target = inst.path("queue", "bitbucket", "ZZ" + base[2:-5] + ".00")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.move(held, target)
        r = inst.imta("cache", "-sync")
        self.assertIn("the job controller rescanned the queue", r.stdout)
        wait_for("the dropped file to go", lambda: not os.path.exists(target))
        wait_for("its D record", lambda: inst.log_lines(r" bitbucket\s+D 1 .*drop@hold-daemon"))

    def test_notifications_lost_to_a_full_socket_are_made_up_by_an_early_rescan(self):
        # The kernel queues at most net.unix.max_dgram_qlen datagrams on the
        # controller's socket; enqueuers finding it full keep theirs for
        # their next try. While the controller is stopped, each round of the
        # dispatcher's log writer sends one: the first qlen wait, the rest
        # are refused. Once it runs again, it reads a
        # full queue, so it rescans as soon as the burst is over, long
        # before SYNCH_TIME (300 s).
        inst = self.inst
        with open("/proc/sys/net/unix/max_dgram_qlen") as f:
            qlen = int(f.read())
        if qlen > 100:
            self.skipTest("net.unix.max_dgram_qlen is %d: too many messages to fill it" % qlen)
        jc = inst.pid("job_controller")
        os.kill(jc, signal.SIGSTOP)
        # The dispatcher sends one datagram per round of its log writer,
        # which may gather a few transactions: send plenty.
        count = qlen * 4 + 5
        try:
            for i in range(count):
                inst.send("burst%d@bitbucket-daemon" % i)
        finally:
            os.kill(jc, signal.SIGCONT)
        wait_for("every file to go", lambda: not inst.files("bitbucket"))
        wait_for("every D record", lambda: len(inst.log_lines(r" bitbucket\s+D 1 .*burst\d+@bitbucket-daemon")) ==
                 count)
        wait_for("the early rescan", lambda: "queue rescan (notifications may have been lost)" in inst.imtad_output())

    def test_process_jobs_and_restart_of_a_dead_controller(self):
        inst = self.inst
        r = inst.imta("process")
        self.assertRegex(r.stdout, r"(?m)^job_controller\s+pid \d+  up \S+  jobs \d+ ; cached files \d+")
        r = inst.imta("qm", "jobs")
        self.assertTrue(r.stdout.startswith("no jobs running") or r.stdout.startswith("Job "), r.stdout)
        old = inst.pid("job_controller")
        self.assertTrue(old)
        os.kill(old, signal.SIGKILL)
        new = wait_for("a new job controller", lambda: inst.pid("job_controller") not in (None, old) and
                       os.path.exists(inst.path("run", "job_controller.ctl")) and inst.pid("job_controller"))
        self.assertNotEqual(new, old)
        wait_for("it to answer", lambda: inst.imta("qm", "jobs", check=False).returncode == 0)
        # The dispatcher was never touched: mail still flows in and out.
        inst.send("after@bitbucket-daemon")
        wait_for("delivery after the restart", lambda: inst.log_lines(r" bitbucket\s+D 1 .*after@bitbucket-daemon"))

    def test_reload_applies_to_new_jobs(self):
        inst = self.inst
        cnf = inst.read("imta.cnf")
        inst.write("imta.cnf", cnf.replace("\nbitbucket maxjobs 1 pool LOCAL_POOL\n",
                                           "\nbitbucket periodic maxjobs 1 pool LOCAL_POOL\n", 1))
        inst.imta("cnbuild")
        inst.imta("reload")
        wait_for("the reload", lambda: "configuration reloaded" in inst.imtad_output())
        inst.send("kept@bitbucket-daemon")
        f = wait_for("the queued file", lambda: inst.files("bitbucket"))
        wait_for("the cache to say periodic",
                 lambda: "periodic" in inst.imta("cache", "-view", "bitbucket").stdout)
        self.assertEqual(inst.files("bitbucket"), f)  # bitbucket is periodic now: it waits
        inst.imta("submit")  # every channel
        wait_for("the file to go", lambda: not inst.files("bitbucket"))

    def test_run_in_the_foreground_without_the_daemon(self):
        inst = self.inst
        inst.send("wait@slow-daemon")
        wait_for("the queued file", lambda: inst.files("bitbucket_slow"))
        inst.stop(graceful=True)
        self.assertIsNone(inst.pid("job_controller"))
        self.assertFalse(os.path.exists(inst.path("run", "job_controller.ctl")))

        r = inst.imta("submit", "bitbucket_slow", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("the job controller is not running", r.stderr)
        r = inst.imta("cache", "-view", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("the job controller is not running", r.stderr)
        r = inst.imta("qm", "jobs", check=False)
        self.assertEqual(r.returncode, 1)

        f = inst.files("bitbucket_slow")
        self.assertEqual(len(f), 1)
        r = inst.imta("run", "bitbucket_slow")
        name = os.path.basename(f[0])
        self.assertIn("bitbucket_slow/%s wait@slow-daemon: delivered" % name, r.stdout)
        self.assertIn("1 of 1 files tried, 1 finished", r.stdout)
        self.assertEqual(inst.files("bitbucket_slow"), [])
        self.assertEqual(len(inst.log_lines(r" bitbucket_slow\s+D 1 .*wait@slow-daemon")), 1)
        r = inst.imta("run", "bitbucket_slow")
        self.assertIn("no files queued for channel bitbucket_slow", r.stdout)
        r = inst.imta("run", check=False)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
