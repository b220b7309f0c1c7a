"""The greenlet operations, timed with pyperf: switch, spawn, throw, kill, getcurrent, and
a switch round trip at growing stack depth.

usage: python benchmarks/bench_greenlet.py [pyperf options] -o OUT.json

It times whatever ``greenlet`` the running interpreter imports, so the same file measures
this project and upstream greenlet, each from its own virtualenv. benchmarks/run.py drives
it; run by hand, pass ``--inherit-environ GREENLET_STACK_MODE`` so that pyperf's worker
processes see the stack mode.

Every benchmark times ``loops`` repetitions of one operation and reports the time of one.
They are wall-clock times: ../shared/conformance/perf_cg.py counts instructions instead, and
the project's speed claims come from there.
"""
import pyperf

import greenlet

from depth_pair import DepthPair

#: Depths of the sweep: C re-entries (through ``map``) under each of two greenlets.
DEPTHS = (0, 25, 50, 100, 200, 300, 400)

#: ``kill`` creates and drops suspended greenlets in batches of this many, so that memory
#: stays bounded however many loops pyperf calibrates.
KILL_BATCH = 1000


class Ping(Exception):
    """Thrown into a greenlet that catches it and switches back."""


def bench_switch(loops):
    """A round trip: main switches into a greenlet, which switches straight back."""
    main = greenlet.getcurrent()

    def echo():
        switch = main.switch
        while True:
            switch()

    glet = greenlet.greenlet(echo)
    glet.switch()
    switch = glet.switch
    start = pyperf.perf_counter()
    for _ in range(loops):
        switch()
    elapsed = pyperf.perf_counter() - start
    del glet  # killed: GreenletExit ends its loop
    return elapsed


def bench_spawn(loops):
    """Create a greenlet, start it, and let it finish: the life of a short task."""
    make = greenlet.greenlet

    def task():
        return None

    start = pyperf.perf_counter()
    for _ in range(loops):
        make(task).switch()
    return pyperf.perf_counter() - start


def bench_throw(loops):
    """A round trip carrying an exception: ``throw`` into a greenlet that catches it."""
    main = greenlet.getcurrent()

    def catcher():
        switch = main.switch
        while True:
            try:
                switch()
            except Ping:
                pass

    glet = greenlet.greenlet(catcher)
    glet.switch()
    throw = glet.throw
    start = pyperf.perf_counter()
    for _ in range(loops):
        throw(Ping)
    elapsed = pyperf.perf_counter() - start
    del glet
    return elapsed


def bench_kill(loops):
    """Drop the last reference to a suspended greenlet: greenlet kills it with
    ``GreenletExit``, which runs its frames' cleanup. Only the drop is timed."""
    main = greenlet.getcurrent()

    def parked():
        main.switch()

    elapsed = 0.0
    left = loops
    while left:
        batch = [greenlet.greenlet(parked) for _ in range(min(left, KILL_BATCH))]
        for glet in batch:
            glet.switch()
        left -= len(batch)
        start = pyperf.perf_counter()
        batch.clear()
        elapsed += pyperf.perf_counter() - start
    return elapsed


def bench_getcurrent(loops):
    """``getcurrent()`` from inside a running greenlet (not the main one)."""
    result = []

    def body():
        current = greenlet.getcurrent
        start = pyperf.perf_counter()
        for _ in range(loops):
            current()
        result.append(pyperf.perf_counter() - start)

    greenlet.greenlet(body).switch()
    return result[0]


def depth_benchmark(depth):
    """A round trip between two greenlets that are each ``depth`` C calls deep
    (``depth_pair.py``, which tools/depth_sweep.py measures too)."""

    def bench(loops):
        pair = DepthPair(greenlet, depth)
        start = pyperf.perf_counter()
        pair.round_trips(loops)
        elapsed = pyperf.perf_counter() - start
        pair.close()
        return elapsed

    return bench


def main():
    runner = pyperf.Runner()
    runner.metadata["greenlet_version"] = greenlet.__version__
    runner.metadata["greenlet_file"] = greenlet.__file__
    mode = getattr(greenlet, "get_stack_mode", None)
    runner.metadata["greenlet_stack_mode"] = mode() if mode else "copying (upstream)"
    runner.bench_time_func("switch", bench_switch)
    runner.bench_time_func("spawn", bench_spawn)
    runner.bench_time_func("throw", bench_throw)
    runner.bench_time_func("kill", bench_kill)
    runner.bench_time_func("getcurrent", bench_getcurrent)
    for depth in DEPTHS:
        runner.bench_time_func("depth_%d" % depth, depth_benchmark(depth))


if __name__ == "__main__":
    main()
