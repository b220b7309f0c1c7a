"""Memory per suspended greenlet: how much the process's resident set grows for each
greenlet that has started and is parked, shallow, in ``main.switch()``.

usage: python benchmarks/bench_memory.py [--greenlets N] [--runs R] [-o OUT.json]

Each run is a fresh interpreter: it measures RSS (``/proc/self/statm``), starts N greenlets
(default 100,000, as ../shared/conformance/perf.py's ``mem_rss``), collects garbage, and
measures again. The result is the median of R runs (default 3) of (after - before) / N, in
bytes. It counts everything a greenlet costs: the object, its saved stack slice or
dedicated stack pages, its frame and its CPython data-stack chunk. The greenlet measured is
the one this interpreter imports; GREENLET_STACK_MODE applies.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import gc, os, sys
import greenlet

PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

count = int(sys.argv[1])
main = greenlet.getcurrent()

def parked():
    main.switch()

gc.collect()
before = rss()
glets = [greenlet.greenlet(parked) for _ in range(count)]
for glet in glets:
    glet.switch()
gc.collect()
after = rss()
print((after - before) / count)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--greenlets", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-o", "--output")
    args = parser.parse_args()
    samples = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.greenlets)],
                             capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.split()[-1]))
    import greenlet
    mode = getattr(greenlet, "get_stack_mode", None)
    result = {
        "python": sys.version.split()[0],
        "greenlet_file": greenlet.__file__,
        "stack_mode": mode() if mode else "copying (upstream)",
        "greenlets": args.greenlets,
        "bytes_per_greenlet": statistics.median(samples),
        "samples": samples,
    }
    print("%.0f bytes per suspended greenlet (median of %d runs of %d)"
          % (result["bytes_per_greenlet"], args.runs, args.greenlets))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
