#!/usr/bin/env python3
"""Reads valgrind memcheck logs and says whether this greenlet is clean in them.

usage: tools/memcheck_report.py LOG...

Clean means, over every log:
- no invalid read or write, no invalid free, no overlapping copy, anywhere in the process
  (CPython included: with PYTHONMALLOC=malloc and CPython's suppressions, CPython has none);
- no use of uninitialised memory with the extension on the stack;
- no definite leak allocated with the extension on the stack.

What CPython itself leaks at exit (it does not free everything) is counted and shown, not
judged. Prints a summary per kind and the first report of each failing kind; exits 1 if
anything failed, 2 if a log is missing or has no valgrind summary (the run died).
"""
import collections
import re
import sys

# Frames that belong to this project: the extension's file, and its Swift and C symbols.
OURS = re.compile(r"_greenlet\.cpython|\$s8Greenlet|\$s11StackEngine|\bgl_\w+|greenlet_\w+|slp_switch")

KINDS = [
    ("invalid access", re.compile(r"Invalid (read|write) of size|Invalid free|Mismatched free|"
                                  r"Source and destination overlap|Invalid memory pool")),
    ("uninitialised", re.compile(r"uninitialised|Uninitialised")),
    ("definite leak", re.compile(r"are definitely lost in loss record")),
]


def reports(text):
    """Each error or loss record of a log, as (kind, text)."""
    for block in re.split(r"\n==\d+== ?\n", text):
        for kind, pattern in KINDS:
            if pattern.search(block):
                yield kind, block
                break


def main(paths):
    counts = collections.Counter()
    ours = collections.defaultdict(list)
    summaries = []
    for path in paths:
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError as e:
            print("memcheck: cannot read %s: %s" % (path, e))
            return 2
        summary = re.search(r"ERROR SUMMARY: .*", text)
        if summary is None:
            print("memcheck: %s has no ERROR SUMMARY: the process did not finish" % path)
            return 2
        summaries.append("%s: %s" % (path, summary.group(0)))
        for kind, block in reports(text):
            mine = kind == "invalid access" or OURS.search(block) is not None
            counts[(kind, mine)] += 1
            if mine:
                ours[kind].append((path, block))
    for line in summaries:
        print(line)
    failed = False
    for kind, _ in KINDS:
        in_ours, elsewhere = counts[(kind, True)], counts[(kind, False)]
        judged = "anywhere" if kind == "invalid access" else "with greenlet on the stack"
        print("%-15s %d %s; %d elsewhere (CPython, not judged)" % (kind + ":", in_ours, judged, elsewhere)
              if kind != "invalid access" else "%-15s %d" % (kind + ":", in_ours))
        if in_ours:
            failed = True
            path, block = ours[kind][0]
            print("first, in %s:\n%s\n" % (path, block))
    print("memcheck: %s" % ("FAILED" if failed else "clean"))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
