#!/usr/bin/env python3
"""Benchmark: loading the compiled configuration image against parsing the
text files, for a configuration with many rewrite rules and mapping entries.

Usage: python3 tests/bench/config_load.py [--imta build/tools/imta] [--rules 10000]
                                          [--entries 10000] [--runs 15]

Prints figures; asserts nothing. Each run is a whole `imta test -rewrite`
process; the cost of starting a process that loads no configuration
(`imta test -match`) is measured too and subtracted.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time


def timed(cmd, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        samples.append(time.perf_counter() - t0)
        if r.returncode not in (0, 1):
            raise SystemExit("command failed: %s\n%s" % (" ".join(cmd), r.stderr))
    return statistics.median(samples) * 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imta", default="build/tools/imta")
    ap.add_argument("--rules", type=int, default=10000)
    ap.add_argument("--entries", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    imta = os.path.abspath(args.imta)

    tmp = tempfile.mkdtemp(prefix="imta-bench-")
    try:
        root = os.path.join(tmp, "x")
        subprocess.run([imta, "init", root, "--domain", "example.test"], check=True, capture_output=True)
        cnf = os.path.join(root, "config", "imta.cnf")
        with open(cnf) as f:
            text = f.read()
        rules = "".join("host%d.example.net  $U%%host%d.example.net@tcp_local-daemon\n" % (i, i)
                        for i in range(args.rules))
        # Put the generated rules in front of the default ones (before the first blank line).
        head, sep, tail = text.partition("\n\n")
        with open(cnf, "w") as f:
            f.write(head + "\n" + rules + sep + tail)
        with open(os.path.join(root, "config", "mappings"), "a") as f:
            f.write("\nBENCH_TABLE\n")
            for i in range(args.entries):
                f.write("  user%d@*.example.net  $Y$0\n" % i)
        t0 = time.perf_counter()
        r = subprocess.run([imta, "--root", root, "cnbuild", "-statistics"], capture_output=True, text=True)
        cnbuild_ms = (time.perf_counter() - t0) * 1000.0
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        image_kb = os.path.getsize(os.path.join(root, "config", "imta.image")) / 1024.0

        probe = ["user@host%d.example.net" % (args.rules // 2)]
        base = timed([imta, "test", "-match", "a", "a"], args.runs)
        image = timed([imta, "--root", root, "test", "-rewrite"] + probe, args.runs)
        text_ms = timed([imta, "--root", root, "test", "-rewrite", "-noimage_file"] + probe, args.runs)
        mapping = timed([imta, "--root", root, "test", "-mapping", "-table=BENCH_TABLE",
                         "user%d@a.example.net" % (args.entries - 1)], args.runs)

        print("configuration: %d rewrite rules, %d mapping entries (image %.0f KiB)"
              % (args.rules, args.entries, image_kb))
        print("imta cnbuild (parse, check, write image):   %8.1f ms" % cnbuild_ms)
        print("process start, no configuration:           %8.1f ms" % base)
        print("load image + one rewrite:                   %8.1f ms  (%.1f ms over start)" % (image, image - base))
        print("parse text files + one rewrite:             %8.1f ms  (%.1f ms over start)" % (text_ms, text_ms - base))
        print("load image + worst-case mapping probe:      %8.1f ms" % mapping)
        if image - base > 0:
            print("text parse / image load:                    %8.1fx" % ((text_ms - base) / (image - base)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
