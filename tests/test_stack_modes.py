"""Dedicated stacks: ``greenlet.set_stack_mode("dedicated")`` and ``GREENLET_STACK_MODE``.

A greenlet in dedicated mode runs on a stack of its own and switches without copying a
byte. These tests check the mode's API and its bad input, that greenlets of both kinds
switch to each other at any depth with every value intact, that deep recursion on a
dedicated stack ends in RecursionError at every size (never in the guard page), that
stacks are reused and given back, and that running out of mappings falls back to copying
instead of crashing.
"""
import gc
import random
import sys
import threading
import time

import pytest

import greenlet
from greenlet import getcurrent

from _support import frame_names, run_python

pytestmark = pytest.mark.beyond_upstream("upstream has no dedicated stacks (set_stack_mode)")

MIN_SIZE = 128 * 1024
DEFAULT_SIZE = 2 * 1024 * 1024


@pytest.fixture
def dedicated():
    """This thread in dedicated mode for the test (the autouse fixture restores the mode)."""
    greenlet.set_stack_mode("dedicated")
    return greenlet.get_stack_mode()


# -- the API ------------------------------------------------------------------------------

def test_modes_round_trip_and_apply_to_greenlets_created_afterwards():
    greenlet.set_stack_mode("copying")
    before = greenlet.greenlet(lambda: None)
    assert greenlet.get_stack_mode() == "copying"
    greenlet.set_stack_mode("dedicated", stack_size=256 * 1024)
    assert greenlet.get_stack_mode() == "dedicated"
    after = greenlet.greenlet(lambda: None)
    greenlet.set_stack_mode("dedicated")
    default = greenlet.greenlet(lambda: None)
    assert (before.gr_stack_size, after.gr_stack_size) == (0, 256 * 1024)
    assert default.gr_stack_size in (DEFAULT_SIZE, _env_size())
    # Sizes round up to whole pages.
    greenlet.set_stack_mode("dedicated", MIN_SIZE + 1)
    assert greenlet.greenlet().gr_stack_size == MIN_SIZE + 4096
    # The main greenlet always runs on the thread's stack.
    assert getcurrent().gr_stack_size == 0


def _env_size():
    import os
    text = os.environ.get("GREENLET_STACK_SIZE", "")
    if not text:
        return DEFAULT_SIZE
    scale = {"k": 1024, "m": 1024 * 1024}.get(text[-1].lower(), 1)
    return int(text[:-1] if scale != 1 else text) * scale


def test_the_mode_is_per_thread():
    greenlet.set_stack_mode("dedicated", MIN_SIZE)
    seen = {}

    def other():
        seen["mode"] = greenlet.get_stack_mode()
        greenlet.set_stack_mode("copying")
        seen["size"] = greenlet.greenlet().gr_stack_size

    t = threading.Thread(target=other)
    t.start()
    t.join()
    # The other thread started in the process default, and its change stayed there.
    assert seen["mode"] in ("copying", "dedicated")
    assert seen["size"] == 0
    assert greenlet.get_stack_mode() == "dedicated"
    assert greenlet.greenlet().gr_stack_size == MIN_SIZE


@pytest.mark.parametrize("args, kwargs, error, message", [
    (("fast",), {}, ValueError, "stack mode must be 'copying' or 'dedicated'"),
    ((1,), {}, TypeError, None),
    (("dedicated",), {"stack_size": "1m"}, TypeError, "stack_size must be an int, not str"),
    (("dedicated",), {"stack_size": MIN_SIZE - 1}, ValueError, "stack_size must be from 131072"),
    (("dedicated",), {"stack_size": -1}, ValueError, "stack_size must be from"),
    (("dedicated",), {"stack_size": 1 << 70}, ValueError, "stack_size must be from"),
    (("dedicated",), {"stack_size": 1 << 31}, ValueError, "stack_size must be from"),
    (("copying",), {"stack_size": MIN_SIZE}, ValueError, "stack_size applies to the 'dedicated' mode only"),
    ((), {}, TypeError, None),
    (("copying", None, None), {}, TypeError, None),
])
def test_bad_arguments_are_refused_and_change_nothing(args, kwargs, error, message):
    before = greenlet.get_stack_mode()
    with pytest.raises(error) as caught:
        greenlet.set_stack_mode(*args, **kwargs)
    if message:
        assert message in str(caught.value)
    assert greenlet.get_stack_mode() == before


def test_the_environment_sets_the_default_at_import():
    out = run_python("""
        import greenlet
        g = greenlet.greenlet(lambda: greenlet.getcurrent().gr_stack_size)
        print(greenlet.get_stack_mode(), g.gr_stack_size, g.switch())
    """, env={"GREENLET_STACK_MODE": "dedicated", "GREENLET_STACK_SIZE": "256k"}).assert_clean()
    assert out == ["dedicated 262144 262144"]
    out = run_python("""
        import greenlet
        print(greenlet.get_stack_mode(), greenlet.greenlet().gr_stack_size)
    """, env={"GREENLET_STACK_MODE": "copying", "GREENLET_STACK_SIZE": ""}).assert_clean()
    assert out == ["copying 0"]


@pytest.mark.parametrize("env, message", [
    ({"GREENLET_STACK_MODE": "fast"}, "GREENLET_STACK_MODE must be 'copying' or 'dedicated', not 'fast'"),
    ({"GREENLET_STACK_MODE": "dedicated", "GREENLET_STACK_SIZE": "12"}, "GREENLET_STACK_SIZE must be a size"),
    ({"GREENLET_STACK_MODE": "dedicated", "GREENLET_STACK_SIZE": "lots"}, "not 'lots'"),
    ({"GREENLET_STACK_MODE": "dedicated", "GREENLET_STACK_SIZE": "99999999999999999999m"}, "GREENLET_STACK_SIZE"),
])
def test_a_bad_environment_fails_the_import_clearly(env, message):
    result = run_python("import greenlet", env=env)
    assert result.rc == 1, result.detail
    assert "ValueError" in result.err and message in result.err, result.err


# -- switching ----------------------------------------------------------------------------

def _deep(depth, then):
    """``depth`` C re-entries down (through map), then ``then()``; returns what it returns."""
    if depth == 0:
        return then()
    return next(map(_deep, [depth - 1], [then]))


def test_a_dedicated_greenlet_switches_at_depth_without_copying(dedicated):
    main = getcurrent()

    def body(depth):
        total = 0
        while True:
            got = _deep(depth, lambda: main.switch(total))
            if got is None:
                return total
            total += got

    g = greenlet.greenlet(body)
    assert g.switch(200) == 0
    for n in range(1, 50):
        assert g.switch(n) == n * (n + 1) // 2
    assert g.switch(None) == 49 * 50 // 2
    assert g.dead
    assert g.gr_bytes_copied == 0 and g.gr_stack_saved_max == 0


def test_greenlets_of_both_kinds_switch_among_themselves_at_random_depths():
    rng = random.Random(20261203)
    main = getcurrent()
    greenlets = []

    def body(index, depth):
        value = None
        while True:
            # Every value comes back to the one that asked: tagged by who sent it.
            value = _deep(depth, lambda: main.switch((index, value)))
            if value == "stop":
                return index

    for index in range(60):
        greenlet.set_stack_mode("dedicated" if index % 2 else "copying",
                                *([MIN_SIZE * 4] if index % 2 else []))
        g = greenlet.greenlet(body)
        assert g.switch(index, rng.randrange(0, 100)) == (index, None)
        greenlets.append(g)
    greenlet.set_stack_mode("copying")
    for step in range(2000):
        index = rng.randrange(len(greenlets))
        assert greenlets[index].switch(step) == (index, step)
    for index, g in enumerate(greenlets):
        assert g.switch("stop") == index
        assert g.dead
        assert (g.gr_bytes_copied == 0) == (index % 2 == 1)


def test_starts_across_kinds_run_and_return_to_their_parents():
    """A copying greenlet started from a dedicated one runs on the thread's stack below
    everything there; a dedicated one started from a copying one runs on its own."""
    def chain(kinds):
        if not kinds:
            return "bottom"
        if kinds[0] == "dedicated":
            greenlet.set_stack_mode("dedicated", MIN_SIZE * 4)
        else:
            greenlet.set_stack_mode("copying")
        child = greenlet.greenlet(lambda: _deep(20, lambda: chain(kinds[1:])))
        result = child.switch()
        assert child.dead
        return result + "<" + kinds[0]

    kinds = ["dedicated", "copying", "copying", "dedicated", "dedicated", "copying", "dedicated"]
    try:
        assert chain(kinds) == "bottom" + "".join("<" + k for k in reversed(kinds))
    finally:
        greenlet.set_stack_mode("copying")


def test_throw_and_kill_reach_a_dedicated_greenlet(dedicated):
    main = getcurrent()
    seen = []

    def body():
        try:
            _deep(40, main.switch)
        except KeyError as e:
            seen.append(e.args[0])
        try:
            _deep(40, main.switch)
        finally:
            seen.append("finally")

    g = greenlet.greenlet(body)
    g.switch()
    g.throw(KeyError("thrown"))  # caught; it parks again in the second try
    del g
    gc.collect()
    assert seen == ["thrown", "finally"]


def test_frames_of_a_suspended_dedicated_greenlet_can_be_walked(dedicated):
    main = getcurrent()

    def inner():
        main.switch()

    def outer():
        _deep(5, inner)

    g = greenlet.greenlet(outer)
    g.switch()
    names = frame_names(g.gr_frame)
    assert names[0] == "inner" and names[-1] == "outer"
    assert names.count("_deep") == 6
    g.switch()
    assert g.dead


# -- recursion ----------------------------------------------------------------------------

RECURSE = r"""
import sys, greenlet
kind, size = sys.argv[1], int(sys.argv[2])
greenlet.set_stack_mode("dedicated", size)

def plain(n):
    return plain(n + 1)

def through_map(n):
    return next(map(through_map, [n + 1]))

class Attribute:
    def __getattr__(self, name):
        return getattr(self, name + "x")

def through_getattr(n):
    return Attribute().a

def nested_repr(n):
    x = []
    for _ in range(1_000_000):
        x = [x]
    return repr(x)

def body():
    try:
        {"plain": plain, "map": through_map, "getattr": through_getattr, "repr": nested_repr}[kind](0)
    except RecursionError:
        return "RecursionError"
    return "no error"

g = greenlet.greenlet(body)
assert g.gr_stack_size == size
print(g.switch())
"""


@pytest.mark.slow
@pytest.mark.parametrize("size", [DEFAULT_SIZE, MIN_SIZE], ids=["default", "smallest"])
@pytest.mark.parametrize("kind", ["plain", "map", "getattr", "repr"])
def test_deep_recursion_raises_recursion_error_never_overflows(kind, size):
    # In a child: an overflow would be a crash. On 3.11+ plain Python recursion does not
    # use the C stack, and the Python limit stops it as anywhere.
    out = run_python(RECURSE, kind, size).assert_clean()
    assert out == ["RecursionError"]


# -- stacks: reuse, limits, threads -------------------------------------------------------

def test_stacks_are_reused_one_greenlet_after_another(dedicated):
    mapped_before = greenlet._greenlet._dedicated_stacks()[0]
    for _ in range(2000):
        g = greenlet.greenlet(lambda: _deep(3, lambda: 1))
        assert g.switch() == 1
    # A finished greenlet's stack waits in the pool for the next one.
    assert greenlet._greenlet._dedicated_stacks()[0] <= mapped_before + 1
    assert greenlet.stats()[threading.get_ident()]["dedicated_stacks_pooled"] >= 1


def test_a_burst_of_greenlets_leaves_its_stacks_for_the_next_burst(dedicated):
    # A thousand started together and killed together: their stacks are kept (two tiers, up
    # to 1,024), so the next thousand map nothing.
    main = getcurrent()
    tid = threading.get_ident()

    def burst():
        live = [greenlet.greenlet(main.switch) for _ in range(1000)]
        for g in live:
            g.switch()
        assert all(g.gr_stack_size == DEFAULT_SIZE for g in live)
        del live[:]

    burst()
    mapped_after_first = greenlet._greenlet._dedicated_stacks()[0]
    assert greenlet.stats()[tid]["dedicated_stacks_pooled"] >= 1000
    burst()
    assert greenlet._greenlet._dedicated_stacks()[0] == mapped_after_first


def test_past_the_limit_greenlets_fall_back_to_copying_and_are_counted():
    # A size no other test uses, so that no stack kept for reuse fits: each needs a mapping.
    greenlet.set_stack_mode("dedicated", 3 * MIN_SIZE + 8192)
    mapped, limit = greenlet._greenlet._dedicated_stacks()
    tid = threading.get_ident()
    refused_before = greenlet.stats()[tid]["dedicated_stacks_refused"]
    main = getcurrent()
    live = []
    try:
        greenlet._greenlet._dedicated_stacks(limit=mapped + 2)
        for i in range(6):
            g = greenlet.greenlet(lambda i=i: _deep(20, lambda: main.switch(i)) or "done")
            assert g.switch() == i
            live.append(g)
    finally:
        greenlet._greenlet._dedicated_stacks(limit=limit)
    sizes = [g.gr_stack_size for g in live]
    refused = greenlet.stats()[tid]["dedicated_stacks_refused"] - refused_before
    # Those that got a stack have it; the others run on the thread's stack, and say so.
    assert sizes.count(0) == refused == 4
    for g in live:
        assert g.switch() == "done"


@pytest.mark.slow
def test_100k_live_dedicated_greenlets_never_crash():
    out = run_python(r"""
        import threading, greenlet
        greenlet.set_stack_mode("dedicated", 128 * 1024)
        main = greenlet.getcurrent()
        def body(i):
            got = main.switch(i)
            return got * 2
        live = []
        for i in range(100_000):
            g = greenlet.greenlet(body)
            assert g.switch(i) == i
            live.append(g)
        mapped, limit = greenlet._greenlet._dedicated_stacks()
        row = greenlet.stats()[threading.get_ident()]
        dedicated = sum(1 for g in live if g.gr_stack_size)
        print(dedicated <= limit, dedicated + row["dedicated_stacks_refused"] == 100_000)
        for i, g in enumerate(live):
            assert g.switch(i) == 2 * i
        print(all(g.dead for g in live))
    """, timeout=300).assert_clean()
    assert out == ["True True", "True"]


@pytest.mark.leaves_greenlets(
    "before 3.15 the frames of a dead thread's suspended greenlets keep what they hold (its "
    "main greenlet here), as upstream keeps it", when=sys.version_info < (3, 15))
def test_an_exited_threads_dedicated_stacks_are_given_back():
    greenlet.set_stack_mode("copying")
    before = greenlet._greenlet._dedicated_stacks()[0]
    parked = []

    def worker():
        greenlet.set_stack_mode("dedicated", MIN_SIZE)
        here = getcurrent()
        for _ in range(5):
            g = greenlet.greenlet(lambda: here.switch())
            g.switch()
            parked.append(g)
        # Finished ones go to the pool; the pool goes with the thread.
        for _ in range(3):
            greenlet.greenlet(lambda: None).switch()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    del parked[:]
    # The exited thread's cleanup runs as a pending call, once its last destructor ran.
    deadline = time.monotonic() + 10
    while greenlet._greenlet._dedicated_stacks()[0] != before and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.002)
    assert greenlet._greenlet._dedicated_stacks()[0] == before
