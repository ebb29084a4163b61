"""tests/queue/enqueue_tool: fills a queue through the real Store API, as
the SMTP server would (and, with --defer, records a failed attempt as a
channel master would). ENQUEUE_TOOL (set by meson) names the program."""

import os
import subprocess

ENQUEUE = os.environ.get("ENQUEUE_TOOL", "build/tests/enqueue_tool")


def enqueue(queue, channel, sender, to, defer=(), body=None, options=(), timeout=600):
    """Enqueues to `channel` of the queue folder `queue`; the `channel/file`
    names written. `options` are more of enqueue_tool's (--subject, --count,
    ...). AssertionError with the tool's complaint when it fails."""
    cmd = [ENQUEUE, "--queue", queue, "--channel", channel, "--from", sender] + list(options)
    for t in to:
        cmd += ["--to", t]
    for d in defer:
        cmd += ["--defer", d]
    if body is not None:
        cmd += ["--body", body]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("enqueue_tool failed (%d): %s" % (r.returncode, r.stderr))
    return r.stdout.split()
