"""How long `python -m greenlet.dump` takes on a process with many suspended greenlets.

    python tools/bench_dump.py [GREENLETS] [RUNS]

Starts a child with GREENLETS (default 10,000) greenlets parked in a function, dumps it RUNS
times (default 3) in a fresh interpreter each, as a user would, and prints each wall time and
the best. The greenlet imported is whatever this interpreter imports (PYTHONPATH included).
A benchmark, not a test: its figures go in docs/out-of-process.md.
"""
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent('''
    import sys
    import greenlet

    def parked_here(i):
        greenlet.getcurrent().parent.switch()

    glets = [greenlet.greenlet(parked_here) for _ in range(int(sys.argv[1]))]
    for i, g in enumerate(glets):
        g.switch(i)
    print("ready", flush=True)
    sys.stdin.readline()
''')


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(count)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "greenlet.dump", str(child.pid)],
                                 capture_output=True, text=True, check=True).stdout
            times.append(time.perf_counter() - began)
            assert out.count("(suspended,") == count, "the dump missed greenlets"
        print("dump of %d suspended greenlets: %s s; best %.2f s"
              % (count, ", ".join("%.2f" % t for t in times), min(times)))
    finally:
        child.stdin.close()
        child.wait()


if __name__ == "__main__":
    main()
