"""How switch throughput scales with threads on a free-threaded CPython.

usage: python3.13t tools/ft_scaling.py [--switches N] [--repeat R] [--threads 1,2]

Each thread runs its own pair of greenlets that switch back and forth N times. The script
reports, for each thread count, the best of R runs (taken round robin): wall time and total
switches per second, and the ratio to one thread. With the GIL the threads take turns, and the ratio
stays near 1; without it, a switch touches only its own thread's state, so two threads on
two free cores should come close to twice the throughput of one.

The same exchange done with a generator in place of the greenlets is measured alongside:
it shares nothing between threads either, so its ratio is what the machine gives Python
threads, the ceiling for the greenlet ratio. (On a machine whose two CPUs are two hardware
threads of one core, or are shared with other work, that ceiling is well below 2.)

This is a measurement, not a test: it asserts nothing, and the README and docs quote it.
"""
import argparse
import sys
import threading
import time

import greenlet


def ping_pong(switches):
    """Two greenlets switch ``switches`` times in all, passing a counter."""
    main = greenlet.getcurrent()

    def partner():
        value = main.switch()
        while value is not None:
            value = main.switch(value + 1)

    other = greenlet.greenlet(partner)
    other.switch()
    value = 0
    for _ in range(switches // 2):
        value = other.switch(value)
    other.switch(None)
    assert value == switches // 2


def generator_ping_pong(switches):
    """The same exchange of values with a generator: what the machine itself gives when
    threads run Python code that shares nothing."""
    def partner():
        value = yield
        while True:
            value = yield value + 1

    other = partner()
    next(other)
    value = 0
    for _ in range(switches // 2):
        value = other.send(value)
    assert value == switches // 2


def run(threads, switches, work=ping_pong):
    start = threading.Barrier(threads + 1)
    workers = [threading.Thread(target=lambda: (start.wait(), work(switches)))
               for _ in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=2_000_000, help="per thread")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print("# %s, %s, greenlet from %s" % (
        sys.version.split()[0] + ("t" if "t" in getattr(sys, "abiflags", "") else ""),
        "GIL" if gil else "no GIL", greenlet.__file__))
    counts = [int(n) for n in args.threads.split(",")]
    works = (("greenlet", ping_pong), ("generator", generator_ping_pong))
    # Round robin over the thread counts, so that a noisy neighbour on a shared machine
    # hits every count alike; the best run of each is the one least disturbed.
    best = {(name, threads): float("inf") for name, _ in works for threads in counts}
    for _ in range(args.repeat):
        for name, work in works:
            for threads in counts:
                best[name, threads] = min(best[name, threads], run(threads, args.switches, work))
    print("%-10s %-8s %10s %16s %8s" % ("switches", "threads", "best s", "per second", "ratio"))
    for name, _ in works:
        base = None
        for threads in counts:
            rate = threads * args.switches / best[name, threads]
            base = base or rate
            print("%-10s %-8d %10.3f %16.0f %8.2f" % (name, threads, best[name, threads], rate, rate / base))
    print("# 'generator' is the baseline: how well this machine runs Python threads side by side.")


if __name__ == "__main__":
    main()
