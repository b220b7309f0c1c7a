"""Tables and plots for the docs from the benchmark suite's results.

usage: python benchmarks/report.py [--results DIR] [--docs DIR]

Reads RESULTS/X.Y/{upstream,copying,dedicated}-{ops,echo,memory}.json, as benchmarks/run.py
writes them, and writes
  DOCS/_generated/benchmarks.md      one table per CPython version: the median time of each
                                     operation, and each stack mode's ratio to upstream;
  DOCS/images/bench-ops-X.Y.png      those ratios as bars, one plot per version;
  DOCS/images/bench-depth-sweep.png  round-trip time against stack depth, every version;
  DOCS/images/bench-memory.png       resident memory per suspended greenlet.
Needs pyperf and matplotlib.
"""
import argparse
import datetime
import json
import os
import sys

import pyperf

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

IMPLS = ("upstream", "copying", "dedicated")
LABELS = {"upstream": "upstream 3.5.6", "copying": "this project, copying",
          "dedicated": "this project, dedicated stacks"}
COLORS = {"upstream": "#7f7f7f", "copying": "#1f77b4", "dedicated": "#ff7f0e"}

#: (benchmark name, what the table calls it), in table order; the depth sweep's rows
#: follow them, then ``APPLICATION``.
OPERATIONS = (
    ("switch", "switch (round trip)"),
    ("spawn", "spawn (create, start, finish)"),
    ("throw", "throw (round trip)"),
    ("kill", "kill a suspended greenlet"),
    ("getcurrent", "getcurrent()"),
)
APPLICATION = (("gevent_echo", "gevent echo, per message"),)
#: The operations plotted as ratios (the sweep has a plot of its own).
PLOTTED = ("switch", "spawn", "throw", "kill", "getcurrent", "depth_200", "depth_400",
           "gevent_echo")


def load_times(path):
    """{benchmark name: median seconds} of one pyperf JSON file, and its metadata."""
    if not os.path.exists(path):
        return {}, {}
    suite = pyperf.BenchmarkSuite.load(path)
    times = {bench.get_name(): bench.median() for bench in suite.get_benchmarks()}
    metadata = dict(suite.get_metadata())
    dates = suite.get_dates()  # per-run dates are not common metadata
    if dates:
        metadata["date"] = dates[0].isoformat()
    return times, metadata


def load_version(directory):
    """Everything measured for one CPython version."""
    data = {"times": {}, "memory": {}, "metadata": {}}
    for impl in IMPLS:
        times = {}
        for kind in ("ops", "echo"):
            found, metadata = load_times(os.path.join(directory, "%s-%s.json" % (impl, kind)))
            times.update(found)
            if metadata and kind == "ops":
                data["metadata"][impl] = metadata
        if times:
            data["times"][impl] = times
        memory = os.path.join(directory, impl + "-memory.json")
        if os.path.exists(memory):
            with open(memory) as f:
                data["memory"][impl] = json.load(f)["bytes_per_greenlet"]
    return data


def fmt_time(seconds):
    if seconds < 1e-6:
        return "%.0f ns" % (seconds * 1e9)
    if seconds < 1e-3:
        return "%.2f µs" % (seconds * 1e6)
    return "%.2f ms" % (seconds * 1e3)


def depths_of(times):
    return sorted(int(name[6:]) for name in times if name.startswith("depth_"))


def table(version, data):
    impls = [impl for impl in IMPLS if impl in data["times"]]
    has_upstream = "upstream" in impls
    head = ["operation"] + [LABELS[impl] for impl in impls]
    if has_upstream:
        head += ["%s / upstream" % impl for impl in impls if impl != "upstream"]
    rows = []
    any_times = next(iter(data["times"].values()))
    sweep = tuple(("depth_%d" % depth, "switch at depth %d" % depth)
                  for depth in depths_of(any_times))
    names = OPERATIONS + sweep + APPLICATION
    for name, label in names:
        values = [data["times"][impl].get(name) for impl in impls]
        if all(value is None for value in values):
            continue
        row = [label] + [fmt_time(v) if v is not None else "–" for v in values]
        if has_upstream:
            base = data["times"]["upstream"].get(name)
            for impl, value in zip(impls, values):
                if impl != "upstream":
                    row.append("%.2f" % (value / base) if value and base else "–")
        rows.append(row)
    if data["memory"]:
        row = ["memory per suspended greenlet"]
        row += ["{:,.0f} B".format(data["memory"][impl]) if impl in data["memory"] else "–"
                for impl in impls]
        if has_upstream:
            base = data["memory"].get("upstream")
            row += ["%.2f" % (data["memory"][impl] / base)
                    if base and impl in data["memory"] else "–"
                    for impl in impls if impl != "upstream"]
        rows.append(row)
    metadata = next(iter(data["metadata"].values()), {})
    lines = [
        "### CPython %s" % metadata.get("python_version", version).split()[0],
        "",
        "Median of pyperf's values; %s; measured %s." % (
            metadata.get("cpu_model_name", "CPU unknown"),
            str(metadata.get("date", "?"))[:10]),
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" + "---:|" * (len(head) - 1),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_ratios(version, data, path):
    ours = [impl for impl in ("copying", "dedicated") if impl in data["times"]]
    base = data["times"]["upstream"]
    names = [name for name in PLOTTED if name in base]
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    height = 0.8 / len(ours)
    for index, impl in enumerate(ours):
        ratios = [data["times"][impl].get(name, float("nan")) / base[name] for name in names]
        ax.barh([i + index * height for i in range(len(names))], ratios, height=height,
                color=COLORS[impl], label=LABELS[impl])
    ax.axvline(1.0, color=COLORS["upstream"], linestyle="--", label="upstream = 1")
    ax.set_yticks([i + height * (len(ours) - 1) / 2 for i in range(len(names))])
    ax.set_yticklabels([name.replace("_", " ") for name in names])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time relative to upstream greenlet 3.5.6 (log scale; lower is faster)")
    ax.set_title("CPython %s: each operation against upstream" % version)
    ax.grid(True, axis="x", alpha=0.3, which="both")
    # Below the axes: inside, it would cover the bars of whichever operation sits there.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize="small",
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sweep(versions, path):
    fig, axes = plt.subplots(1, len(versions), figsize=(6 * len(versions), 4), squeeze=False)
    for ax, (version, data) in zip(axes[0], versions):
        for impl in IMPLS:
            times = data["times"].get(impl)
            if not times:
                continue
            depths = depths_of(times)
            ax.plot(depths, [times["depth_%d" % d] * 1e6 for d in depths], marker="o",
                    color=COLORS[impl], label=LABELS[impl])
        ax.set_title("CPython %s" % version)
        ax.set_xlabel("depth of each greenlet (C calls through map)")
        ax.set_ylabel("switch round trip (µs)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_memory(versions, path):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width = 0.8 / len(IMPLS)
    for index, impl in enumerate(IMPLS):
        values = [data["memory"].get(impl, 0) for _, data in versions]
        bars = ax.bar([i + index * width for i in range(len(versions))], values, width=width,
                      color=COLORS[impl], label=LABELS[impl])
        ax.bar_label(bars, labels=["{:,.0f}".format(v) if v else "" for v in values],
                     fontsize="x-small")
    ax.set_xticks([i + width for i in range(len(versions))])
    ax.set_xticklabels(["CPython %s" % version for version, _ in versions])
    ax.set_ylabel("bytes of RSS per suspended greenlet")
    ax.set_title("Memory per suspended shallow greenlet (100,000 alive)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize="small",
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def version_key(version):
    return tuple(int(part) for part in version.rstrip("t").split("."))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(here, "results"))
    parser.add_argument("--docs", default=os.path.join(os.path.dirname(here), "docs"))
    args = parser.parse_args()
    versions = []
    for version in sorted(os.listdir(args.results), key=version_key):
        data = load_version(os.path.join(args.results, version))
        if data["times"]:
            versions.append((version, data))
    if not versions:
        raise SystemExit("error: no results in %s (run benchmarks/run.py)" % args.results)
    images = os.path.join(args.docs, "images")
    generated = os.path.join(args.docs, "_generated")
    os.makedirs(images, exist_ok=True)
    os.makedirs(generated, exist_ok=True)
    parts = ["<!-- Written by benchmarks/report.py from benchmarks/results/ on %s; "
             "do not edit. -->\n" % datetime.date.today().isoformat()]
    for version, data in versions:
        parts.append(table(version, data))
        if "upstream" in data["times"]:
            plot_ratios(version, data, os.path.join(images, "bench-ops-%s.png" % version))
    plot_sweep(versions, os.path.join(images, "bench-depth-sweep.png"))
    if any(data["memory"] for _, data in versions):
        plot_memory(versions, os.path.join(images, "bench-memory.png"))
    with open(os.path.join(generated, "benchmarks.md"), "w") as f:
        f.write("\n".join(parts))
    print("wrote %s and the plots in %s" % (os.path.join(generated, "benchmarks.md"), images))
    return 0


if __name__ == "__main__":
    sys.exit(main())
