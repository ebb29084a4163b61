"""The message records of log/mail.log_current, as the e2e tests compare them
with the seed's sequences (examples 21-4, 21-5, 21-7, 21-8).

    from mail_log import entries, keys
    seq = [e for e in entries(inst) if msgid in e.line]
    keys(seq)   # [("tcp_intranet", "l", "E"), ("l", "", "D")]
"""

import datetime
import os
import re


class Entry:
    """One record, split into the fields the comparisons use: source and
    destination channel (empty for dequeue records), code and its letter,
    size, original and active recipient, queue file name, the rest as text."""

    def __init__(self, line):
        self.line = line
        f = line.split()
        self.stamp = f[0] + " " + f[1]
        self.source = f[2]
        if re.fullmatch(r"[A-Z]+", f[3]):
            self.dest, rest = "", f[3:]
        else:
            self.dest, rest = f[3], f[4:]
        self.code = rest[0]
        self.letter = self.code[0]
        self.size = rest[1]
        rcpt = next(i for i, x in enumerate(rest) if x.startswith("rfc822;"))
        self.orig = rest[rcpt][len("rfc822;"):]
        self.active = rest[rcpt + 1] if rcpt + 1 < len(rest) else ""
        files = [x for x in rest if "/queue/" in x]
        self.file = os.path.basename(files[0]) if files else ""
        self.text = " ".join(rest)

    @property
    def when(self):
        """The record's time (to order records that two processes wrote)."""
        return datetime.datetime.strptime(self.stamp, "%d-%b-%Y %H:%M:%S.%f")

    def key(self):
        return (self.source, self.dest, self.letter)

    def __repr__(self):
        return self.line


def entries(instance):
    """The message records in the mail.log_current of `instance` (anything
    with a log_lines() method, as tests/support/instance.py's Instance);
    connection records, which have no rfc822; field, are left out."""
    out = []
    for line in instance.log_lines():
        try:
            out.append(Entry(line))
        except (IndexError, StopIteration):
            pass
    return out


def keys(seq):
    return [e.key() for e in seq]
