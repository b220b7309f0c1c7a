"""Switch time against stack depth, for greenlet implementations side by side.

usage: python tools/depth_sweep.py --impl NAME=SITE[@dedicated] [--impl ...]
                                   [--depths 0,25,...] [--instructions] [--json OUT]
                                   [--markdown OUT] [--plot OUT.png]

Each implementation runs in a child interpreter (this one) with SITE first on sys.path;
``@dedicated`` sets GREENLET_STACK_MODE=dedicated for it. The workload is
benchmarks/depth_pair.py, which the pyperf suite times too: two greenlets each recurse DEPTH
levels through ``map`` (so that every level is a C call and the C stack really grows, on
3.11+ too), then ping-pong between themselves; the time per round trip (two switches) is
the best of several repeats.
Timings are wall-clock: run on a quiet machine, and read ratios rather than absolutes.
``--instructions`` counts instructions per round trip under valgrind's callgrind instead,
as ../shared/conformance/perf_cg.py does: exact, whatever the load. ``--plot`` needs
matplotlib.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

#: The workload, shared with the pyperf suite (benchmarks/bench_greenlet.py), run as a script.
DEPTH_PAIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks", "depth_pair.py")


def measure(site, dedicated, depth, target):
    out = subprocess.run([sys.executable, DEPTH_PAIR, site, str(depth), str(target)],
                         env=_env(dedicated), capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def _env(dedicated):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["GREENLET_STACK_MODE"] = "dedicated" if dedicated else "copying"
    return env


def count_instructions(site, dedicated, depth, n1=200, n2=1200):
    """Instructions per round trip under callgrind: (Ir(n2) - Ir(n1)) / (n2 - n1), so that
    start-up and the dives cancel out. Exact, and deaf to the machine's load."""
    totals = []
    for n in (n1, n2):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "cg.out")
            subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                            sys.executable, DEPTH_PAIR, site, str(depth), "0", str(n)],
                           env=_env(dedicated), capture_output=True, text=True, check=True)
            with open(out) as f:
                totals.append(next(int(line.split()[1]) for line in f
                                   if line.startswith(("summary:", "totals:"))))
    return (totals[1] - totals[0]) / (n2 - n1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--impl", action="append", required=True, metavar="NAME=SITE[@dedicated]")
    ap.add_argument("--depths", default="0,25,50,100,150,200,300,400")
    ap.add_argument("--target-ms", type=float, default=30.0, help="time per repeat")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions under valgrind's callgrind instead of timing")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("--plot")
    args = ap.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    impls = []
    for spec in args.impl:
        name, _, site = spec.partition("=")
        site, _, mode = site.partition("@")
        impls.append((name, os.path.abspath(site), mode == "dedicated"))
    unit = "instructions" if args.instructions else "ns"
    key = unit + "_per_round_trip"
    results = {"python": sys.version.split()[0], "depths": depths, key: {}}
    for name, site, dedicated in impls:
        row = []
        for depth in depths:
            if args.instructions:
                row.append(count_instructions(site, dedicated, depth))
            else:
                row.append(measure(site, dedicated, depth, args.target_ms / 1000.0))
            print("%-10s depth %4d: %11.0f %s" % (name, depth, row[-1], unit), file=sys.stderr)
        results[key][name] = row
    names = [name for name, _, _ in impls]
    lines = ["| depth (C calls) | " + " | ".join("%s (%s)" % (n, unit) for n in names) + " |",
             "|---:|" + "---:|" * len(names)]
    for index, depth in enumerate(depths):
        cells = ["{:,.0f}".format(results[key][n][index]) for n in names]
        lines.append("| %d | %s |" % (depth, " | ".join(cells)))
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for name in names:
            scale = 1000.0
            ax.plot(depths, [v / scale for v in results[key][name]], marker="o", label=name)
        ax.set_xlabel("depth of each greenlet (C re-entries through map)")
        ax.set_ylabel("round trip (thousands of instructions)" if args.instructions
                      else "round trip (µs)")
        ax.set_title("Switch round trip against depth, CPython %s" % results["python"])
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
