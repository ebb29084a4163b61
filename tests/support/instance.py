"""A temporary imta instance for end-to-end tests, and its imtad.

    sys.path.insert(0, os.path.join(REPO, "tests", "support"))
    from instance import Instance, wait_for, free_port

    inst = Instance("imta-mine-")   # `imta init` in a new temporary folder
    try:
        inst.listen_smtp()           # dispatcher.cnf: SMTP on a free loopback port
        inst.no_dns()                # DNS_SERVERS: a loopback port where nothing answers
        inst.imta("cnbuild")
        inst.add_user("alice")
        inst.start()                 # imtad --foreground, in its own process group
        ...
    finally:
        inst.destroy()               # SIGKILL to the process group, folder removed

The instance is made with `imta init ROOT --domain example.test --hostname
mail.example.test`, ROOT being `x` inside a temporary folder (`inst.tmp`)
that tests may use for files of their own. `start()` waits for the files
in run/ named by READY (a subclass may name fewer); `destroy()` always
leaves no process and no folder behind, also after a failure.

IMTA_BIN and IMTAD_BIN (set by meson) name the programs.
"""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

from dns_server import free_port  # noqa: F401  (re-exported: a port free on 127.0.0.1)

IMTA = os.environ.get("IMTA_BIN", "build/tools/imta")
IMTAD = os.environ.get("IMTAD_BIN", "build/tools/imtad")
DEADLINE = 30  # seconds any single wait may take before the test fails


def wait_for(what, check, timeout=DEADLINE, interval=0.1):
    """The first true value `check()` returns; AssertionError naming `what`
    when none comes within `timeout` seconds."""
    until = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > until:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


class Instance:
    """A temporary instance made with `imta init`; imtad once started."""

    READY = ("dispatcher.status", "job_controller.ctl")  # files in run/ that say imtad is up

    def __init__(self, prefix="imta-e2e-"):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.root = os.path.join(self.tmp, "x")
        self.proc = None
        try:
            self.run(IMTA, "init", self.root, "--domain", "example.test", "--hostname", "mail.example.test")
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    # -- configuration ------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def config_path(self, name):
        return self.path("config", name)

    def read(self, name):
        with open(self.config_path(name)) as f:
            return f.read()

    def write(self, name, text):
        with open(self.config_path(name), "w") as f:
            f.write(text)

    def append(self, name, text):
        with open(self.config_path(name), "a") as f:
            f.write(text)

    def replace(self, name, old, new, count=-1):
        text = self.read(name)
        assert old in text, "%r not in %s" % (old, name)
        self.write(name, text.replace(old, new, count))

    def listen_smtp(self, port=None):
        """dispatcher.cnf: one SMTP service (channel tcp_local, one worker) on
        127.0.0.1 and `port` (a free one if None); returns the port."""
        port = port or free_port()
        self.write("dispatcher.cnf", "WORKER_THREADS=1\nINTERFACE_ADDRESS=127.0.0.1\n[SERVICE=SMTP]\nPORT=%d\n"
                   "PARAMETER=CHANNEL=tcp_local\n" % port)
        return port

    def no_dns(self):
        """option.dat: DNS_SERVERS at a loopback port where nothing answers, so
        the machine's resolver is never asked."""
        self.append("option.dat", "\nDNS_SERVERS=127.0.0.1:%d\nDNS_TIMEOUT=1\n" % free_port())

    # -- commands -----------------------------------------------------------------
    def run(self, *args, stdin=None):
        """Runs a program; its standard output. AssertionError when it fails."""
        r = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=DEADLINE)
        if r.returncode != 0:
            raise AssertionError("%s failed: %s %s" % (args, r.stdout, r.stderr))
        return r.stdout

    def imta(self, *args, check=True):
        """`imta --root ROOT args...`; AssertionError when it fails and `check`."""
        r = subprocess.run([IMTA, "--root", self.root] + list(args), capture_output=True, text=True,
                           timeout=DEADLINE)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s %s" % (args, r.returncode, r.stdout, r.stderr))
        return r

    def add_user(self, name, password=None):
        if password is None:
            self.run(IMTA, "--root", self.root, "user", "add", name, "--no-password")
        else:
            self.run(IMTA, "--root", self.root, "user", "add", name, stdin=password + "\n")

    def env(self):
        """The environment with IMTA_ROOT naming this instance."""
        env = dict(os.environ)
        env["IMTA_ROOT"] = self.root
        return env

    # -- the daemon ---------------------------------------------------------------
    def start(self):
        """imtad --foreground in its own process group (its output in
        ROOT/imtad.stderr); returns once the READY files are there."""
        self.stderr = open(self.path("imtad.stderr"), "a")
        self.proc = subprocess.Popen([IMTAD, "--foreground", "--root", self.root], stdout=self.stderr,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        for name in self.READY:
            wait_for(name, lambda: self.proc.poll() is not None or os.path.exists(self.path("run", name)),
                     interval=0.05)
            if self.proc.poll() is not None:
                raise AssertionError("imtad did not come up: " + self.imtad_output())

    def imtad_output(self):
        with open(self.path("imtad.stderr")) as f:
            return f.read()

    def pid(self, name):
        """The pid in run/NAME.pid if that process is alive, else None."""
        try:
            with open(self.path("run", name + ".pid")) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, graceful=False, timeout=20):
        """Stops imtad: SIGKILL to its process group; with `graceful`, SIGTERM
        to imtad first (it stops its children) and SIGKILL only if it has not
        ended within `timeout` seconds."""
        if self.proc and self.proc.poll() is None:
            if graceful:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc:
            self.proc.wait()
            self.stderr.close()
        self.proc = None

    def destroy(self):
        """SIGKILL to imtad's whole process group (children that outlived it
        too), then the folder goes."""
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- what it did --------------------------------------------------------------
    def queue_files(self, queue_id=None):
        """{channel: [paths]} of the queue files (of one message id, if given)."""
        out = {}
        qdir = self.path("queue")
        for channel in sorted(os.listdir(qdir)):
            for dirpath, _, names in os.walk(os.path.join(qdir, channel)):
                for n in sorted(names):
                    if n.startswith(".") or not n.endswith(".00"):
                        continue
                    if queue_id and queue_id not in n:
                        continue
                    out.setdefault(channel, []).append(os.path.join(dirpath, n))
        return out

    def log_lines(self):
        """The lines of log/mail.log_current (none before the first record)."""
        try:
            with open(self.path("log", "mail.log_current"), encoding="utf-8", errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def maildir(self, user, domain="example.test"):
        """The messages in new/ of a user's Maildir, oldest first, as bytes."""
        paths = glob.glob(self.path("mailboxes", domain, user, "Maildir", "new", "*"))
        out = []
        for p in sorted(paths, key=lambda p: (os.path.getmtime(p), p)):
            with open(p, "rb") as f:
                out.append(f.read())
        return out
