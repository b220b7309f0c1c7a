"""Deep stacks and many live greenlets: the stack-slicing machinery must
save and restore every greenlet's frames exactly."""
import functools
import sys

import pytest

from greenlet import getcurrent, greenlet

DEPTH = 50
COUNT = 1000
ROUNDS = 4


# CPython's message. It gets a suffix (" while calling a Python object") when the
# limit is hit inside a call from C, so only its start is matched.
RECURSION_MESSAGE = r"^maximum recursion depth exceeded"


def frames_named(frame, name):
    n = 0
    while frame is not None:
        if frame.f_code.co_name == name:
            n += 1
        frame = frame.f_back
    return n


def descend(ident, level, main):
    """Recurse ``level`` frames, then serve values until told to stop.

    Every frame keeps a local derived from ``ident`` and ``level`` and checks
    it again while unwinding, so a corrupted stack shows up as a wrong sum.
    """
    mine = ident * 1000 + level
    if level == 0:
        value = main.switch(("ready", ident))
        while value != "stop":
            depth = frames_named(sys._getframe(), "descend")
            value = main.switch((ident, value, depth))
        return 0
    below = descend(ident, level - 1, main)
    assert mine == ident * 1000 + level
    return below + mine


def expected_total(ident):
    return sum(ident * 1000 + level for level in range(1, DEPTH + 1))


@pytest.mark.slow
def test_many_deep_greenlets_round_robin():
    """Many deep stacks saved and restored repeatedly must stay intact."""
    main = getcurrent()
    glets = [greenlet(descend) for _ in range(COUNT)]
    for ident, g in enumerate(glets):
        assert g.switch(ident, DEPTH, main) == ("ready", ident)
    for rnd in range(ROUNDS):
        for ident, g in enumerate(glets):
            token = (rnd, ident * 7)
            assert g.switch(token) == (ident, token, DEPTH + 1)
    # Walk them in reverse to make sure order doesn't matter when unwinding.
    for ident in reversed(range(COUNT)):
        assert glets[ident].switch("stop") == expected_total(ident)
        assert glets[ident].dead


def test_suspended_frames_remain_walkable_for_every_greenlet():
    """Each greenlet's saved frame chain belongs to it, not a neighbour."""
    main = getcurrent()
    glets = [greenlet(descend) for _ in range(50)]
    for ident, g in enumerate(glets):
        g.switch(ident, 20, main)
    for ident, g in enumerate(glets):
        frame = g.gr_frame
        assert frame.f_code is descend.__code__
        assert frames_named(frame, "descend") == 21
        assert frame.f_locals["ident"] == ident
    for g in glets:
        g.switch("stop")


def test_abandoning_many_deep_greenlets_unwinds_them_all():
    """Every abandoned deep greenlet gets its finally blocks run."""
    main = getcurrent()
    unwound = []

    def guarded(ident, level):
        try:
            if level:
                guarded(ident, level - 1)
            else:
                main.switch()
        finally:
            if level == DEPTH:
                unwound.append(ident)

    glets = [greenlet(guarded) for _ in range(200)]
    for ident, g in enumerate(glets):
        g.switch(ident, DEPTH)
    del g
    glets = None
    assert sorted(unwound) == list(range(200))


def test_recursion_depth_is_tracked_per_greenlet():
    """Each greenlet's Python stack counts separately toward the recursion
    limit, so several greenlets can each sit a few hundred frames deep."""
    main = getcurrent()
    depth = min(300, sys.getrecursionlimit() // 3)

    def dive(n):
        if n == 0:
            return main.switch("at bottom")
        return dive(n - 1) + 1

    glets = [greenlet(dive) for _ in range(10)]
    for g in glets:
        assert g.switch(depth) == "at bottom"
    for g in glets:
        assert g.switch(0) == depth


def test_recursion_error_inside_greenlet_is_catchable():
    """Hitting the limit inside a greenlet must not wreck the interpreter."""
    def runaway(n):
        return runaway(n + 1)

    def body():
        try:
            runaway(0)
        except RecursionError:
            return "recovered"

    assert greenlet(body).switch() == "recovered"
    # And the limit still works normally out here afterwards.
    with pytest.raises(RecursionError, match=RECURSION_MESSAGE):
        runaway(0)


def test_recursion_error_propagates_to_parent():
    """An unhandled RecursionError is an ordinary error for the parent."""
    def runaway(n):
        return runaway(n + 1)

    with pytest.raises(RecursionError, match=RECURSION_MESSAGE):
        greenlet(runaway).switch(0)


def test_nested_greenlet_creation_chain():
    """Greenlets started from inside greenlets, many levels deep."""

    def nest(level):
        if level == 0:
            return [getcurrent()]
        chain = greenlet(nest).switch(level - 1)
        chain.append(getcurrent())
        return chain

    chain = nest(200)
    assert len(chain) == 201
    for inner, outer in zip(chain, chain[1:]):
        assert inner.parent is outer
        assert inner.dead


def test_deep_switch_between_siblings():
    """Siblings ping-pong a counter directly while each sits 30 frames deep;
    only the final result comes back to the parent."""
    rounds = 200

    def dive(level, name, count):
        if level:
            return dive(level - 1, name, count)
        while count < rounds:
            count = partner[name].switch(count + 1)
        return (name, count)

    a = greenlet(dive)
    b = greenlet(functools.partial(dive, 30, "b"))
    partner = {"a": b, "b": a}
    # a sends odd numbers to b, b sends even numbers to a; a sees 200 first.
    assert a.switch(30, "a", 0) == ("a", rounds)
    assert a.dead
    assert not b.dead
    assert b.gr_frame.f_locals["count"] == rounds - 1
    b.throw()
    assert b.dead


_DONE = object()


def _emit(value):
    # Hand the value to whichever greenlet is currently consuming us.
    getcurrent().parent.switch(value)


class GreenletGenerator:
    """A tiny generator made from a greenlet: ``produce(emit)`` calls
    ``emit(value)`` from whatever call depth it likes.

    The greenlet deliberately holds no reference back to this object: before
    CPython 3.15 the collector cannot see a suspended greenlet's frames, so a
    cycle through them would keep an abandoned generator alive.
    """

    def __init__(self, produce):
        def body():
            produce(_emit)
            return _DONE

        self._glet = greenlet(body)

    def __iter__(self):
        return self

    def __next__(self):
        if self._glet.dead:
            raise StopIteration
        # Whoever asks for the next value is where the value should go.
        self._glet.parent = getcurrent()
        value = self._glet.switch()
        if value is _DONE:
            raise StopIteration
        return value


def test_generator_from_greenlets_with_nested_calls():
    """The headline use: values produced from deep inside nested calls."""
    def walk(emit, prefix="", depth=3):
        if depth == 0:
            emit(prefix)
            return
        for letter in "ab":
            walk(emit, prefix + letter, depth - 1)

    assert list(GreenletGenerator(walk)) == [
        "aaa", "aab", "aba", "abb", "baa", "bab", "bba", "bbb",
    ]


def test_generators_can_be_chained():
    """One greenlet generator consuming another, each switching to its own
    consumer: the parent juggling in __next__ keeps values flowing."""

    def numbers(emit):
        for i in range(10):
            emit(i)

    def squares_of_evens(emit):
        for n in GreenletGenerator(numbers):
            if n % 2 == 0:
                emit(n * n)

    assert list(GreenletGenerator(squares_of_evens)) == [0, 4, 16, 36, 64]


def test_generator_abandoned_midway_runs_cleanup():
    """Dropping a half-consumed generator kills its greenlet."""
    cleaned = []

    def endless(emit):
        try:
            n = 0
            while True:
                emit(n)
                n += 1
        finally:
            cleaned.append(True)

    gen = GreenletGenerator(endless)
    assert [next(gen) for _ in range(5)] == [0, 1, 2, 3, 4]
    del gen
    assert cleaned == [True]


def test_generator_interleaved_with_another():
    """Two producers alternate without disturbing each other's stacks."""
    def letters(emit):
        for ch in "xyz":
            emit(ch)

    def digits(emit):
        for d in (1, 2, 3):
            emit(d)

    assert list(zip(GreenletGenerator(letters), GreenletGenerator(digits))) == [
        ("x", 1), ("y", 2), ("z", 3),
    ]
