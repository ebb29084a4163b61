"""tests/support/smtp_sink.py run as a process of its own, for tests that
need a receiving SMTP server on loopback addresses.

    from sink import Sink
    s = Sink(["127.0.0.12"], script={"rcpt_reply": "451 4.7.1 try later"})
    try:
        ... s.port, s.messages(), s.transcript()
    finally:
        s.stop()

The sink runs in its own process group, which stop() ends (SIGTERM, then
SIGKILL after 5 s); its folder goes with it. IMTA_SMTP_SINK may name the
sink program (default: smtp_sink.py next to this file).
"""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

SINK = os.environ.get("IMTA_SMTP_SINK", os.path.join(os.path.dirname(os.path.abspath(__file__)), "smtp_sink.py"))


class Sink:
    """smtp_sink.py on some loopback addresses, one port (`port`, or a free
    one), answering as `script` says (see smtp_sink.py)."""

    def __init__(self, addresses, port=None, script=None, prefix="imta-sink-"):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        args = [sys.executable, SINK, "--dir", self.dir]
        for a in addresses:
            args += ["--listen", a]
        if port:
            args += ["--port", str(port)]
        if script is not None:
            path = os.path.join(self.dir, "script.json")
            with open(path, "w") as f:
                json.dump(script, f)
            args += ["--script", path]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise AssertionError("sink did not start: %r" % line)
        self.port = int(line)

    def messages(self):
        """The messages received, in order, as smtp_sink.py records them."""
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, "msg-*.json")),
                           key=lambda p: int(re.search(r"msg-(\d+)", p).group(1))):
            with open(path) as f:
                out.append(json.load(f))
        return out

    def transcript(self):
        try:
            with open(os.path.join(self.dir, "transcript.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)
