"""What a greenlet costs in memory, and the data stack it lends its frames.

From CPython 3.11 a greenlet's Python frames live in data-stack chunks. CPython makes its
own chunks 16 KiB mmaps, and a suspended shallow greenlet touches a page of one for a frame
or two. This project lends each greenlet a 1 KiB root chunk from a shared slab instead;
frames that do not fit go on CPython's own chunks above it, which CPython frees as they
return. The tests here measure the memory in a child interpreter, and check that frames of
any size, at any depth, in any order of death, run on those chunks.
"""
import os
import random
import sys

import pytest

import greenlet
from greenlet import getcurrent

from _support import run_python

MEASURE = r"""
import gc, sys, greenlet

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

main = greenlet.getcurrent()
def run():
    main.switch()

for _ in range(100):
    greenlet.greenlet(run).switch()
N = 20000
keep = [None] * N
gc.collect()
before = rss()
for i in range(N):
    g = greenlet.greenlet(run)
    g.switch()
    keep[i] = g
g = None
gc.collect()
print((rss() - before) // N)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.skipif(sys.version_info < (3, 11), reason="before 3.11 frames are heap objects")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="under AddressSanitizer (tools/asan.sh) its shadow memory and "
                           "redzones count in the RSS")
@pytest.mark.beyond_upstream(
    "upstream leaves each greenlet's frames to a fresh 16 KiB CPython data-stack chunk, of "
    "which a suspended greenlet touches a 4 KiB page: about 6,000 bytes of RSS each")
@pytest.mark.copying_mode("measures greenlets on the thread's stack")
def test_a_suspended_shallow_greenlet_costs_under_3500_bytes():
    per_greenlet = int(run_python(MEASURE, env={"GREENLET_STACK_MODE": "copying"}).assert_clean()[0])
    assert per_greenlet < 3500, per_greenlet


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="under AddressSanitizer (tools/asan.sh) its shadow memory and "
                           "redzones count in the RSS")
@pytest.mark.beyond_upstream("upstream has no dedicated stacks (GREENLET_STACK_MODE)")
def test_a_suspended_shallow_greenlet_on_a_dedicated_stack_costs_under_7000_bytes():
    # The top page of its stack, which its first frames touch, and what any greenlet holds.
    # Every one measured must really have a stack of its own.
    script = MEASURE + "assert all(g.gr_stack_size for g in keep)\n"
    per_greenlet = int(run_python(script, env={"GREENLET_STACK_MODE": "dedicated"}).assert_clean()[0])
    assert per_greenlet < 7000, per_greenlet


def _function_with_locals(count):
    """A function whose frame is larger than a 1 KiB root chunk by itself."""
    names = ["v%d" % i for i in range(count)]
    source = "def big(x):\n    %s = %s\n    return sum((%s,)) + getcurrent().parent.switch(x)\n" % (
        ", ".join(names), ", ".join(["x"] * count), ", ".join(names))
    namespace = {"getcurrent": getcurrent}
    exec(source, namespace)
    return namespace["big"]


def test_a_first_frame_larger_than_the_root_chunk():
    big = _function_with_locals(300)
    glets = [greenlet.greenlet(big) for _ in range(10)]
    assert [g.switch(i) for i, g in enumerate(glets)] == list(range(10))
    assert [g.switch(1000) for g in glets] == [300 * i + 1000 for i in range(10)]
    assert all(g.dead for g in glets)


def test_frames_outgrow_the_root_chunk_and_come_back():
    """Deep recursion in many greenlets at once: each moves on to CPython's chunks and back
    to its root, several times, while the others are suspended at other depths."""
    def dive(depth, trail):
        if depth == 0:
            return getcurrent().parent.switch(trail)  # the parent sends the next depth
        return dive(depth - 1, trail + 1)

    def body(depth):
        for _ in range(3):
            depth = dive(depth, 0)
        return "finished"

    rnd = random.Random(1203)
    glets = [greenlet.greenlet(body) for _ in range(40)]
    for _ in range(3):
        depths = [rnd.randint(0, 300) for _ in glets]
        assert [g.switch(d) for g, d in zip(glets, depths)] == depths
    order = list(range(len(glets)))
    rnd.shuffle(order)
    for n, i in enumerate(order):
        if n % 2:
            assert glets[i].switch(0) == "finished"
        glets[i] = None  # the others are killed, suspended deep


CROSSING = r"""
import resource, greenlet

def dive(depth):
    return dive(depth - 1) if depth else 0

main = greenlet.getcurrent()

def handler():
    # What a gevent connection handler does for each message: a few calls deeper than a
    # 1 KiB root chunk holds, and back up to the loop.
    while True:
        for _ in range(2000):
            dive(40)
        main.switch()

glet = greenlet.greenlet(handler)
glet.switch()  # the first round may map what it needs
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
glet.switch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="before 3.11 frames are heap objects")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="under AddressSanitizer (tools/asan.sh) memory is mapped differently")
def test_frames_crossing_out_of_the_root_chunk_and_back_map_nothing_new():
    """CPython unmaps a data-stack chunk when its last frame returns. A greenlet that goes a
    little deeper than its root chunk, 2,000 times, must not map (and fault in) a fresh chunk
    each time: it cost gevent 40% on an echo server. Measured as page faults, in a child."""
    faults = int(run_python(CROSSING, env={"GREENLET_STACK_MODE": "copying"}).assert_clean()[0])
    assert faults < 200, faults


def test_greenlets_dying_in_random_order_give_their_chunks_back():
    """Many slabs' worth of greenlets, freed in a shuffled order, then made again: chunks are
    reused, slabs empty and refill, and every greenlet still gets a working data stack."""
    main = getcurrent()

    def body(tag):
        return ("done", tag, main.switch(tag))

    rnd = random.Random(20261203)
    for round_ in range(3):
        glets = [greenlet.greenlet(body) for _ in range(5000)]
        assert [g.switch(i) for i, g in enumerate(glets)] == list(range(5000))
        order = list(range(len(glets)))
        rnd.shuffle(order)
        for i in order[: len(order) // 2]:
            glets[i] = None  # killed while suspended
        for i in order[len(order) // 2:]:
            assert glets[i].switch(round_) == ("done", i, round_)
        del glets
