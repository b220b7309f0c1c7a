"""The depth-sweep workload: two greenlets, each ``depth`` C calls deep, switching to each other.

One definition serves both measurements of switch cost against depth, so that their numbers
describe the same code:
- ``benchmarks/bench_greenlet.py`` times it with pyperf (``depth_N``);
- ``tools/depth_sweep.py`` times it, or counts its instructions under callgrind, by running
  this file as a script in a child interpreter:

      python depth_pair.py SITE DEPTH TARGET_SECONDS [ROUNDS]

  With ROUNDS, it makes exactly that many round trips and prints 0 (for callgrind, which
  counts them). Without, it prints the best time per round trip, in nanoseconds, of seven
  repeats of at least TARGET_SECONDS each.

Each level of the dive is a call through ``map``, a C function: on 3.11 and later, plain
Python calls do not grow the C stack, and the C stack between the two greenlets is what a
copying switch copies.
"""
import sys
import time


def dive(level, work):
    """Recurse ``level`` times through ``map``, then call ``work``."""
    if level == 0:
        return work()
    return next(map(dive, [level - 1], [work]))


class DepthPair:
    """Two suspended greenlets, ``a`` and ``b``, each ``depth`` C calls deep.

    ``round_trips(n)`` switches into ``a``, which switches to ``b`` and back ``n`` times,
    then returns here: ``n`` round trips between two deep greenlets, and one shallow round
    trip to the caller that the count includes.
    """

    def __init__(self, greenlet_module, depth):
        main = greenlet_module.getcurrent()

        def a_work():
            while True:
                count = main.switch()
                switch_b = b.switch
                for _ in range(count):
                    switch_b()

        def b_work():
            switch_a = a.switch
            while True:
                switch_a()

        a = greenlet_module.greenlet(lambda: dive(depth, a_work))
        b = greenlet_module.greenlet(lambda: dive(depth, b_work))
        b.switch()  # b dives and starts a, which dives too and comes back here
        self._a, self._b = a, b

    def round_trips(self, count):
        self._a.switch(count)

    def close(self):
        """Kills both greenlets (GreenletExit unwinds their dives)."""
        self._a = self._b = None


def _main(argv):
    sys.path.insert(0, argv[1])
    import greenlet

    depth, target = int(argv[2]), float(argv[3])
    fixed = int(argv[4]) if len(argv) > 4 else 0
    pair = DepthPair(greenlet, depth)

    def timed(count):
        start = time.perf_counter()
        pair.round_trips(count)
        return time.perf_counter() - start

    if fixed:
        pair.round_trips(fixed)
        print(0)
    else:
        count = 1000
        while timed(count) < target and count < 10_000_000:
            count *= 2
        print(min(timed(count) / count for _ in range(7)) * 1e9)
    pair.close()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
