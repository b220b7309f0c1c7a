"""The benchmark suite, in one command: this project (both stack modes) against upstream
greenlet, on each CPython named, and the docs' tables and plots from the results.

usage: python3 benchmarks/run.py [--pythons "3.11 3.15"] [--quick] [--no-upstream]
                                 [--results DIR] [--docs DIR]

For each version it makes two virtualenvs beside the checkout (gitignored):
  .venv-bench-X.Y           pyperf, gevent, and this project built from the checkout;
  .venv-bench-upstream-X.Y  pyperf, gevent, and upstream greenlet 3.5.6 from PyPI
                            (skipped with --no-upstream, or when PyPI cannot supply it).
gevent is the version tests/integration/requirements.txt pins, and is left out on
free-threaded builds, which it has no wheels for.

Then, for each implementation (upstream; this project copying; this project dedicated,
GREENLET_STACK_MODE=dedicated), it runs
  bench_greenlet.py  switch, spawn, throw, kill, getcurrent and the depth sweep (pyperf);
  bench_echo.py      a gevent echo server on loopback under a client load (pyperf);
  bench_memory.py    resident memory per suspended greenlet;
writing JSON into RESULTS/X.Y/ (default benchmarks/results/). Last, report.py turns every
result there into the Markdown tables and PNG plots that docs/performance.md includes
(docs/_generated/benchmarks.md and docs/images/bench-*.png), in a virtualenv with matplotlib
(.venv-bench-report).

--quick passes pyperf's --fast (fewer processes and values): a few minutes instead of
about a quarter of an hour per version, and noisier numbers.

These are wall-clock times on whatever machine runs them, so read the ratios. The
project's speed claims come from instruction counts (../shared/conformance/perf_cg.py).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
UPSTREAM = "greenlet==3.5.6"
PIP_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
           "PIP_ROOT_USER_ACTION": "ignore"}

#: (name, virtualenv kind, stack mode) of each implementation measured.
IMPLEMENTATIONS = (
    ("upstream", "upstream", None),
    ("copying", "ours", "copying"),
    ("dedicated", "ours", "dedicated"),
)


def say(message):
    print("\n=== " + message, flush=True)


def run(cmd, env=None, **kwargs):
    full_env = dict(os.environ, **PIP_ENV)
    full_env.update(env or {})
    print("running: " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=full_env, **kwargs)


def find_python(version):
    """The interpreter tools/pythons.sh finds for VERSION, or None."""
    out = subprocess.run(
        ["bash", "-c", 'source "$1/tools/pythons.sh" && find_python "$2"', "_", ROOT, version],
        capture_output=True, text=True)
    return out.stdout.strip() or None


def gevent_requirement():
    """The gevent pin of tests/integration/requirements.txt."""
    path = os.path.join(ROOT, "tests", "integration", "requirements.txt")
    with open(path) as f:
        match = re.search(r"^(gevent==\S+)", f.read(), re.M)
    return match.group(1) if match else "gevent"


def make_venv(base, path, packages):
    """A virtualenv at PATH (made once) with PACKAGES installed; its python."""
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        run([base, "-m", "venv", path], check=True)
    run([python, "-m", "pip", "install", "-q", "--upgrade"] + packages, check=True)
    return python


def has_ours(python):
    """Whether PYTHON imports this project's greenlet (upstream has no get_stack_mode)."""
    return run([python, "-c", "import greenlet; greenlet.get_stack_mode"],
               capture_output=True).returncode == 0


def prepare(version, base, with_upstream):
    """The virtualenvs for one version: {'ours': python, 'upstream': python or None}."""
    frameworks = [] if version.endswith("t") else [gevent_requirement()]
    ours = make_venv(base, os.path.join(ROOT, ".venv-bench-" + version),
                     ["pyperf", "setuptools>=77", "wheel"] + frameworks)
    # gevent brought upstream greenlet from PyPI; this install replaces it.
    run([ours, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
         "--force-reinstall", ROOT], check=True, cwd=ROOT)
    shutil.rmtree(os.path.join(ROOT, "build"), ignore_errors=True)
    if not has_ours(ours):
        raise SystemExit("error: .venv-bench-%s does not import this project's greenlet" % version)
    upstream = None
    if with_upstream:
        try:
            upstream = make_venv(base, os.path.join(ROOT, ".venv-bench-upstream-" + version),
                                 ["pyperf", UPSTREAM] + frameworks)
        except subprocess.CalledProcessError:
            print("upstream greenlet could not be installed for %s: not compared" % version)
    return {"ours": ours, "upstream": upstream}


def pyperf_run(python, script, output, mode, quick):
    if os.path.exists(output):
        os.remove(output)
    cmd = [python, os.path.join(HERE, script), "--quiet", "-o", output,
           "--inherit-environ", "GREENLET_STACK_MODE"]
    if quick:
        cmd.append("--fast")
    run(cmd, env={"GREENLET_STACK_MODE": mode or "copying"}, check=True)


def measure(version, venvs, results, quick):
    outdir = os.path.join(results, version)
    os.makedirs(outdir, exist_ok=True)
    for name, kind, mode in IMPLEMENTATIONS:
        python = venvs[kind]
        if python is None:
            continue
        say("Python %s, %s" % (version, name))
        pyperf_run(python, "bench_greenlet.py", os.path.join(outdir, name + "-ops.json"),
                   mode, quick)
        if run([python, "-c", "import gevent"], capture_output=True).returncode == 0:
            pyperf_run(python, "bench_echo.py", os.path.join(outdir, name + "-echo.json"),
                       mode, quick)
        run([python, os.path.join(HERE, "bench_memory.py"),
             "-o", os.path.join(outdir, name + "-memory.json")],
            env={"GREENLET_STACK_MODE": mode or "copying"}, check=True)


def report(results, docs):
    say("tables and plots")
    base = shutil.which("python3") or sys.executable
    python = make_venv(base, os.path.join(ROOT, ".venv-bench-report"), ["pyperf", "matplotlib"])
    run([python, os.path.join(HERE, "report.py"), "--results", results, "--docs", docs],
        check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pythons", default="3.11 3.15",
                        help="CPython versions, e.g. '3.11 3.15' (default)")
    parser.add_argument("--quick", action="store_true", help="pyperf --fast")
    parser.add_argument("--no-upstream", action="store_true",
                        help="measure this project only")
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--docs", default=os.path.join(ROOT, "docs"))
    args = parser.parse_args()
    measured = 0
    for version in args.pythons.split():
        base = find_python(version)
        if base is None:
            print("Python %s is not installed: skipped" % version)
            continue
        say("Python %s (%s): virtualenvs" % (version, base))
        venvs = prepare(version, base, not args.no_upstream)
        measure(version, venvs, os.path.abspath(args.results), args.quick)
        measured += 1
    if not measured:
        raise SystemExit("error: none of the versions %s is installed" % args.pythons)
    report(os.path.abspath(args.results), os.path.abspath(args.docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
