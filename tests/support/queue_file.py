"""A queue file (queue/message_file.hpp) read the way a test checks it:
envelope, recipients and the message bytes."""

import re


def unescape(value):
    if value == "-":
        return ""
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), value.encode()).decode("utf-8", "replace")


def parse_queue_file(path):
    """A queue file (queue/message_file.hpp) as (envelope dict, recipients, message bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(b"IMTA-QUEUE 1\n"), path
    header_end = data.index(b"\n\n") + 2
    envelope, recipients = {}, []
    for line in data[: header_end - 2].decode().split("\n")[1:]:
        key, _, value = line.partition(" ")
        if key == "rcpt":
            active, original, notify, orcpt = value.split(" ")
            recipients.append({"active": unescape(active), "original": unescape(original),
                               "notify": int(notify), "orcpt": unescape(orcpt)})
        else:
            envelope[key] = unescape(value) if key != "size" else int(value)
    size = envelope["size"]
    message = data[header_end: header_end + size]
    assert data[header_end + size: header_end + size + 5] == b"\x01END\n", "no end marker in %s" % path
    return envelope, recipients, message
