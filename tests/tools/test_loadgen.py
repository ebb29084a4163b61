#!/usr/bin/env python3
"""End-to-end tests of imta-loadgen: the sink on a free loopback port, the
sender against it (and Python's smtplib against the sink), checked by what a
benchmark user sees: exit codes, summaries, stored files. Run by meson with
IMTA_LOADGEN pointing at the built binary. Every process started here is
stopped and waited for in tearDown."""
import json
import os
import re
import selectors
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

LOADGEN = os.environ.get("IMTA_LOADGEN", "build/tools/imta-loadgen")
DEADLINE = 60  # seconds any single process may take before the test gives up

DOT_LINE = ".This line starts with a dot, sent as two dots on the wire."
TWO_DOTS_LINE = "..This line starts with two dots."


def parse_summary(text):
    """The text summary as {name: value}, one "name value" line each."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def free_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoadgenTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imta-loadgen-test-")
        self.processes = []

    def tearDown(self):
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- sink --------------------------------------------------------------
    def start_sink(self, *args):
        """Starts a sink on a free port; returns (process, port, stderr path)."""
        err_path = os.path.join(self.tmp, "sink-%d.err" % len(self.processes))
        err = open(err_path, "w")
        proc = subprocess.Popen([LOADGEN, "sink", "--host", "127.0.0.1", "--port", "0"] + list(args),
                                stdout=subprocess.PIPE, stderr=err, text=True)
        err.close()
        self.processes.append(proc)
        line = self.read_line(proc)
        m = re.match(r"^listening on 127\.0\.0\.1:(\d+)$", line.strip())
        self.assertIsNotNone(m, "sink said %r" % line)
        return proc, int(m.group(1)), err_path

    def read_line(self, proc):
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(DEADLINE)
        sel.close()
        self.assertTrue(ready, "sink printed nothing")
        return proc.stdout.readline()

    def stop_sink(self, proc, sig=signal.SIGTERM):
        """Stops the sink with `sig` and returns (exit code, summary text)."""
        if proc.poll() is None:
            proc.send_signal(sig)
        out, _ = proc.communicate(timeout=DEADLINE)
        return proc.returncode, out

    # -- sender ------------------------------------------------------------
    def send(self, port, *args):
        return subprocess.run([LOADGEN, "send", "--host", "127.0.0.1", "--port", str(port)] + list(args),
                              capture_output=True, text=True, timeout=DEADLINE)

    def store_dir(self):
        path = os.path.join(self.tmp, "store")
        os.mkdir(path)
        return path

    def stored(self, path):
        names = sorted(os.listdir(path))
        self.assertFalse([n for n in names if not n.endswith(".eml")], "temporary files left behind")
        contents = []
        for name in names:
            with open(os.path.join(path, name), "rb") as f:
                contents.append(f.read())
        return contents

    def certificate(self):
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                            "-days", "1", "-keyout", key, "-out", cert], capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        return cert, key


class SendToSink(LoadgenTest):
    def test_every_message_arrives_intact_and_is_counted_on_both_sides(self):
        store = self.store_dir()
        sink, port, _ = self.start_sink("--store", store, "--quiet")
        r = self.send(port, "--messages", "200", "--concurrency", "10", "--recipients", "3",
                      "--size", "2048", "--per-connection", "4")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        sent = parse_summary(r.stdout)
        self.assertEqual(sent["messages"], "200")
        self.assertEqual(sent["accepted"], "200")
        self.assertEqual(sent["refused"], "0 (4xx 0, 5xx 0)")
        self.assertEqual(sent["errors"], "0")
        self.assertEqual(sent["recipients"], "600 accepted, 0 refused")
        self.assertEqual(sent["bytes"], str(200 * 2048))
        self.assertRegex(sent["rate"], r"^\d+\.\d messages/s$")
        self.assertRegex(sent["latency"], r"^p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms \(200 samples\)$")

        code, out = self.stop_sink(sink)
        self.assertEqual(code, 0)
        got = parse_summary(out)
        self.assertEqual(got["messages"], "200")
        self.assertEqual(got["recipients"], "600")
        self.assertEqual(got["bytes"], str(200 * 2048))
        self.assertEqual(got["connections"], sent["connections"])

        messages = self.stored(store)
        self.assertEqual(len(messages), 200)
        ids = set()
        for data in messages:
            self.assertEqual(len(data), 2048)
            text = data.decode("ascii")
            # Dot-stuffing was applied by the sender and undone by the sink.
            self.assertIn("\r\n" + DOT_LINE + "\r\n", text)
            self.assertNotIn("\r\n." + DOT_LINE, text)
            self.assertIn("\r\n" + TWO_DOTS_LINE + "\r\n", text)
            self.assertTrue(text.endswith("\r\n"))
            self.assertFalse(text.endswith("\r\n.\r\n"))
            self.assertNotRegex(text, r"(?<!\r)\n|\r(?!\n)")
            header = text.split("\r\n\r\n", 1)[0]
            self.assertIn("From: <loadgen@example.test>", header)
            self.assertIn("To: <user1@example.test>", header)
            ids.add(re.search(r"^Message-ID: (<[^>]+>)\r?$", header, re.M).group(1))
        self.assertEqual(len(ids), 200)

    def test_record_files_name_the_same_messages_on_both_sides(self):
        send_rec, sink_rec = os.path.join(self.tmp, "send.rec"), os.path.join(self.tmp, "sink.rec")
        sink, port, _ = self.start_sink("--quiet", "--messages", "50", "--record", sink_rec)
        r = self.send(port, "--messages", "50", "--concurrency", "5", "--record", send_rec)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The sink stops by itself after its 50 messages (a SIGTERM could
        # catch it while it exits).
        self.assertEqual(sink.wait(timeout=DEADLINE), 0)
        sink.communicate(timeout=DEADLINE)
        def load(path):
            with open(path) as f:
                lines = f.read().splitlines()
            for line in lines:
                self.assertRegex(line, r"^<[^>\s]+@loadgen\.example\.test> \d+\.\d{6}$")
            return {line.split()[0]: float(line.split()[1]) for line in lines}
        sent, arrived = load(send_rec), load(sink_rec)
        self.assertEqual(len(sent), 50)
        self.assertEqual(set(sent), set(arrived))
        # The sink saw each message before the sender had its 250.
        for mid, t in sent.items():
            self.assertLessEqual(arrived[mid], t)

    def test_json_summary_and_lock_step_without_pipelining(self):
        sink, port, _ = self.start_sink("--quiet")
        r = self.send(port, "-n", "30", "-c", "3", "-r", "2", "--no-pipelining", "--json",
                      "--from", "", "--to", "rcpt%d@example.test", "--threads", "2")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        summary = json.loads(r.stdout)
        self.assertEqual(summary["messages"], 30)
        self.assertEqual(summary["accepted"], 30)
        self.assertEqual(summary["refused_4xx"] + summary["refused_5xx"] + summary["errors"], 0)
        self.assertEqual(summary["recipients_accepted"], 60)
        self.assertEqual(summary["latency_ms"]["samples"], 30)
        self.assertIn("messages_per_s", summary)
        self.assertIn("elapsed_s", summary)
        self.assertLessEqual(summary["latency_ms"]["p50"], summary["latency_ms"]["max"])
        code, out = self.stop_sink(sink)
        self.assertEqual(parse_summary(out)["messages"], "30")

    def test_chunking_sends_each_message_as_one_bdat_chunk(self):
        for lock_step in (False, True):
            with self.subTest(lock_step=lock_step):
                store = self.store_dir() if not lock_step else os.path.join(self.tmp, "store2")
                if lock_step:
                    os.mkdir(store)
                sink, port, _ = self.start_sink("--store", store, "--quiet")
                args = ["-n", "40", "-c", "4", "-r", "2", "--size", "2048", "--per-connection", "4", "--chunking"]
                if lock_step:
                    args.append("--no-pipelining")
                r = self.send(port, *args)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                sent = parse_summary(r.stdout)
                self.assertEqual(sent["accepted"], "40")
                self.assertEqual(sent["recipients"], "80 accepted, 0 refused")
                self.assertEqual(sent["bytes"], str(40 * 2048))
                self.assertRegex(sent["latency"], r"\(40 samples\)$")
                code, out = self.stop_sink(sink)
                got = parse_summary(out)
                self.assertEqual((code, got["messages"], got["recipients"]), (0, "40", "80"))
                messages = self.stored(store)
                self.assertEqual(len(messages), 40)
                for data in messages:
                    # A chunk is not dot-stuffed: the lines with leading dots
                    # arrive as they were written.
                    self.assertEqual(len(data), 2048)
                    text = data.decode("ascii")
                    self.assertIn("\r\n" + DOT_LINE + "\r\n", text)
                    self.assertIn("\r\n" + TWO_DOTS_LINE + "\r\n", text)
                    self.assertNotIn("\r\n." + DOT_LINE, text)
                    self.assertTrue(text.endswith("\r\n") and not text.endswith("\r\n.\r\n"))

    def test_chunking_with_refused_recipients_counts_the_bdat_refusal(self):
        sink, port, _ = self.start_sink("--reply-code", "550", "--quiet")
        r = self.send(port, "-n", "12", "-c", "1", "--per-connection", "3", "--chunking", "--json")
        self.assertEqual(r.returncode, 1)
        summary = json.loads(r.stdout)
        self.assertEqual((summary["refused_5xx"], summary["errors"], summary["accepted"]), (12, 0, 0))
        # The refused chunk was read whole: the connection went on.
        self.assertEqual(summary["connections"], 4)
        code, out = self.stop_sink(sink)
        self.assertEqual(parse_summary(out)["messages"], "0")

    def test_sink_reads_bdat_chunks_whatever_their_reply(self):
        store = self.store_dir()
        sink, port, _ = self.start_sink("--store", store, "--quiet")
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            f = s.makefile("rb")

            def replies(n):
                return [f.readline().decode("ascii").rstrip("\r\n") for _ in range(n)]

            self.assertTrue(replies(1)[0].startswith("220 "))
            s.sendall(b"EHLO x\r\n")
            ehlo = []
            while not ehlo or ehlo[-1][3] == "-":
                ehlo += replies(1)
            self.assertIn("250-CHUNKING", ehlo)
            # Out of sequence: the chunk is read (not taken for commands) and refused.
            s.sendall(b"BDAT 6\r\nNOOP\r\nNOOP\r\n")
            self.assertEqual(replies(2), ["503 5.5.1 Error: need MAIL command", "250 2.0.0 Ok"])
            s.sendall(b"BDAT x\r\n")
            self.assertEqual(replies(1), ["501 5.5.4 Syntax: BDAT size [LAST]"])
            # A message in three chunks, one empty, all pipelined.
            s.sendall(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 9\r\nSubject: BDAT 0\r\n"
                      b"BDAT 6 LAST\r\nx\r\n.\r\n")
            got = replies(5)
            self.assertEqual(got[:4], ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.0.0 9 octets received",
                                       "250 2.0.0 0 octets received"])
            self.assertRegex(got[4], r"^250 2\.0\.0 Ok: queued as \d+$")
            # DATA cannot follow BDAT in one transaction; the chunks go on.
            s.sendall(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcDATA\r\nBDAT 0 LAST\r\n")
            got = replies(5)
            self.assertEqual(got[:4], ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.0.0 3 octets received",
                                       "503 5.5.1 Error: DATA after BDAT"])
            self.assertRegex(got[4], r"^250 2\.0\.0 Ok: queued as \d+$")
            s.sendall(b"QUIT\r\n")
            self.assertTrue(replies(1)[0].startswith("221 "))
        self.stop_sink(sink)
        self.assertEqual(self.stored(store), [b"Subject: x\r\n.\r\n", b"abc"])

    def test_messages_per_connection_decide_the_connections(self):
        sink, port, _ = self.start_sink("--quiet", "--json")
        r = self.send(port, "-n", "10", "-c", "1", "--per-connection", "5")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(parse_summary(r.stdout)["connections"], "2")
        code, out = self.stop_sink(sink)
        got = json.loads(out)
        self.assertEqual(got["connections"], 2)
        self.assertEqual(got["messages"], 10)

    def test_refused_recipients_make_send_fail_and_are_reported(self):
        sink, port, _ = self.start_sink("--reply-code", "451", "--quiet")
        r = self.send(port, "-n", "20", "-c", "4", "-r", "2")
        self.assertEqual(r.returncode, 1)
        sent = parse_summary(r.stdout)
        self.assertEqual(sent["accepted"], "0")
        self.assertEqual(sent["refused"], "20 (4xx 20, 5xx 0)")
        self.assertEqual(sent["errors"], "0")
        self.assertEqual(sent["recipients"], "0 accepted, 40 refused")
        self.assertIn("451", r.stderr)
        code, out = self.stop_sink(sink)
        self.assertEqual(parse_summary(out)["messages"], "0")

    def test_refusal_at_end_of_data_counts_as_5xx(self):
        sink, port, _ = self.start_sink("--data-reply-code", "554", "--quiet")
        r = self.send(port, "-n", "12", "-c", "3", "--json")
        self.assertEqual(r.returncode, 1)
        summary = json.loads(r.stdout)
        self.assertEqual(summary["refused_5xx"], 12)
        self.assertEqual(summary["accepted"], 0)
        self.assertEqual(summary["latency_ms"]["samples"], 12)
        code, out = self.stop_sink(sink)
        got = parse_summary(out)
        self.assertEqual(got["messages"], "0")
        self.assertEqual(got["refused"], "12")

    def test_starttls_with_a_self_signed_certificate(self):
        cert, key = self.certificate()
        store = self.store_dir()
        sink, port, _ = self.start_sink("--starttls", "--cert", cert, "--key", key, "--store", store, "--quiet")
        r = self.send(port, "-n", "30", "-c", "5", "-m", "3", "--starttls", "--size", "1024")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(parse_summary(r.stdout)["accepted"], "30")
        self.stop_sink(sink)
        messages = self.stored(store)
        self.assertEqual(len(messages), 30)
        self.assertTrue(all(len(m) == 1024 and ("\r\n" + DOT_LINE + "\r\n").encode() in m for m in messages))

    def test_starttls_required_but_not_offered_is_an_error(self):
        sink, port, _ = self.start_sink("--quiet")
        r = self.send(port, "-n", "5", "-c", "2", "--starttls")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(parse_summary(r.stdout)["errors"], "5")
        self.assertIn("does not offer STARTTLS", r.stderr)
        code, out = self.stop_sink(sink)
        self.assertEqual(parse_summary(out)["messages"], "0")

    def test_a_server_that_is_not_there_gives_errors_not_a_hang(self):
        r = self.send(free_port(), "-n", "7", "-c", "3")
        self.assertEqual(r.returncode, 1)
        sent = parse_summary(r.stdout)
        self.assertEqual(sent["errors"], "7")
        self.assertEqual(sent["accepted"], "0")
        self.assertIn("connect", r.stderr)

    def test_a_silent_server_times_out(self):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(16)
            r = self.send(listener.getsockname()[1], "-n", "2", "-c", "1", "--timeout", "0.5")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(parse_summary(r.stdout)["errors"], "2")
        self.assertIn("timed out", r.stderr)


class SinkAlone(LoadgenTest):
    def test_stops_by_itself_after_the_messages_asked_for(self):
        sink, port, _ = self.start_sink("--messages", "5", "--quiet")
        r = self.send(port, "-n", "5", "-c", "1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out, _ = sink.communicate(timeout=DEADLINE)  # no signal: it must exit on its own
        self.assertEqual(sink.returncode, 0)
        self.assertEqual(parse_summary(out)["messages"], "5")

    def test_stops_by_itself_after_the_duration(self):
        sink, port, _ = self.start_sink("--duration", "0.3", "--json")
        out, _ = sink.communicate(timeout=DEADLINE)
        self.assertEqual(sink.returncode, 0)
        self.assertEqual(json.loads(out)["messages"], 0)

    def test_rate_lines_on_stderr_and_summary_on_sigint(self):
        sink, port, err_path = self.start_sink()
        self.assertEqual(self.send(port, "-n", "20", "-c", "2").returncode, 0)
        deadline = time.monotonic() + DEADLINE
        rate_line = ""
        while time.monotonic() < deadline and not rate_line:
            with open(err_path) as f:
                rate_line = next((l for l in f if l.startswith("sink: ")), "")
            time.sleep(0.1)
        self.assertRegex(rate_line, r"^sink: [\d.]+ messages/s, [\d.]+ recipients/s, [\d.]+ MB/s, 20 messages, \d+ connections open$")
        code, out = self.stop_sink(sink, signal.SIGINT)
        self.assertEqual(code, 0)
        summary = parse_summary(out)
        self.assertEqual(summary["messages"], "20")
        self.assertRegex(summary["rate"], r"^\d+\.\d messages/s$")

    def test_python_smtplib_can_deliver_to_the_sink(self):
        store = self.store_dir()
        sink, port, _ = self.start_sink("--store", store, "--quiet")
        body = "Subject: hi\r\n\r\n.leading dot\r\n..two\r\nend\r\n"
        with smtplib.SMTP("127.0.0.1", port, timeout=DEADLINE) as client:
            code, caps = client.ehlo("client.test")
            self.assertEqual(code, 250)
            self.assertIn(b"PIPELINING", caps)
            refused = client.sendmail("a@example.test", ["b@example.test", "c@example.test"], body)
            self.assertEqual(refused, {})
            self.assertEqual(client.noop()[0], 250)
            self.assertEqual(client.docmd("RCPT TO:<x@y>")[0], 503)
            client.send(b"BDAT 4\r\nabcd")  # out of sequence: read whole, then refused
            self.assertEqual(client.getreply()[0], 503)
            self.assertEqual(client.docmd("XYZZY")[0], 502)
        code, out = self.stop_sink(sink)
        self.assertEqual(parse_summary(out)["recipients"], "2")
        self.assertEqual(self.stored(store), [body.encode()])

    def test_a_line_too_long_is_refused(self):
        sink, port, _ = self.start_sink("--quiet")
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as s:
            f = s.makefile("rb")
            self.assertTrue(f.readline().startswith(b"220 "))
            s.sendall(b"NOOP " + b"x" * 10000 + b"\r\n")
            self.assertTrue(f.readline().startswith(b"500 "))
            self.assertEqual(f.readline(), b"")  # and the sink hangs up
        self.stop_sink(sink)

    def test_commands_pipelined_after_starttls_are_discarded(self):
        cert, key = self.certificate()
        sink, port, _ = self.start_sink("--starttls", "--cert", cert, "--key", key, "--quiet")
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as raw:
            raw.recv(1000)
            raw.sendall(b"EHLO x\r\n")
            buf = b""
            while not re.search(rb"^250 ", buf, re.M):
                buf += raw.recv(1000)
            self.assertIn(b"STARTTLS", buf)
            raw.sendall(b"STARTTLS\r\nMAIL FROM:<injected@x>\r\n")
            buf = b""
            while b"\r\n" not in buf:
                buf += raw.recv(1000)
            self.assertTrue(buf.startswith(b"220 "))
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"RCPT TO:<b@x>\r\n")
                # Had the injected MAIL counted, this RCPT would be accepted.
                self.assertTrue(tls.recv(1000).startswith(b"503 "))
        self.stop_sink(sink)


class Usage(LoadgenTest):
    def run_loadgen(self, *args):
        return subprocess.run([LOADGEN] + list(args), capture_output=True, text=True, timeout=DEADLINE)

    def test_usage_errors_exit_2(self):
        cases = [
            [],
            ["bounce"],
            ["send", "--concurrency", "0"],
            ["send", "--port", "70000"],
            ["send", "--bogus"],
            ["sink"],
            ["sink", "--port", "0", "--starttls"],
            ["sink", "--port", "0", "--duration", "1", "--messages", "3"],
            ["sink", "--port", "0", "--reply-code", "354"],
        ]
        for args in cases:
            with self.subTest(args=args):
                r = self.run_loadgen(*args)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn("usage:", r.stderr)

    def test_help_lists_the_options(self):
        r = self.run_loadgen("send", "--help")
        self.assertEqual(r.returncode, 0)
        for option in ("--messages", "--concurrency", "--per-connection", "--starttls", "--json"):
            self.assertIn(option, r.stdout)
        r = self.run_loadgen("sink", "--help")
        self.assertEqual(r.returncode, 0)
        for option in ("--store", "--reply-code", "--duration", "--cert"):
            self.assertIn(option, r.stdout)

    def test_a_bad_certificate_or_store_fails_with_1(self):
        missing = os.path.join(self.tmp, "missing.pem")
        r = self.run_loadgen("sink", "--port", "0", "--starttls", "--cert", missing, "--key", missing)
        self.assertEqual(r.returncode, 1)
        r = self.run_loadgen("sink", "--port", "0", "--store", os.path.join(self.tmp, "nowhere"))
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
