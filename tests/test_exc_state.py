"""Per-greenlet interpreter state: the handled-exception stack and the
recursion depth are saved and restored on every switch."""
import sys

import pytest

import greenlet
from greenlet import getcurrent

NO_EXC = (None, None, None)


class Alpha(Exception):
    pass


class Beta(Exception):
    pass


# ---------------------------------------------------------------------------
# sys.exc_info()
# ---------------------------------------------------------------------------

def test_exc_info_survives_a_round_trip_through_other_greenlets():
    main = getcurrent()
    observations = []

    def handler():
        try:
            raise Alpha("mine")
        except Alpha:
            before = sys.exc_info()
            # Bounce through main and a third greenlet a few times.
            for _ in range(3):
                main.switch()
            after = sys.exc_info()
            observations.append(before[1] is after[1])
            observations.append(str(after[1]))
        observations.append(sys.exc_info())

    def bystander():
        while True:
            observations.append(("bystander sees", sys.exc_info()))
            main.switch()

    g = greenlet.greenlet(handler)
    other = greenlet.greenlet(bystander)
    g.switch()
    for _ in range(3):
        other.switch()
        assert sys.exc_info() == NO_EXC
        g.switch()
    assert observations[:3] == [("bystander sees", NO_EXC)] * 3
    assert observations[3:] == [True, "mine", NO_EXC]


def test_each_greenlet_keeps_its_own_exception_while_all_are_handling():
    main = getcurrent()
    kinds = [Alpha, Beta, KeyError, OSError]
    report = {}

    def handle(kind):
        try:
            raise kind(kind.__name__)
        except kind:
            main.switch()
            report[kind] = (sys.exc_info()[0], sys.exc_info()[1].args)

    glets = [greenlet.greenlet(handle) for _ in kinds]
    for g, kind in zip(glets, kinds):
        g.switch(kind)
    try:
        raise ValueError("main's")
    except ValueError:
        # Resume them in the opposite order, while main handles its own.
        for g in reversed(glets):
            g.switch()
            assert sys.exc_info()[0] is ValueError
    assert report == {k: (k, (k.__name__,)) for k in kinds}


def test_bare_raise_after_switching_reraises_own_exception():
    main = getcurrent()

    def body():
        try:
            raise Alpha("original")
        except Alpha:
            main.switch()
            raise

    g = greenlet.greenlet(body)
    g.switch()
    try:
        raise Beta("distraction")
    except Beta:
        with pytest.raises(Alpha) as info:
            g.switch()
    assert str(info.value) == "original"


def test_exception_from_child_is_not_chained_to_parents_handled_one():
    def child():
        raise Beta("from child")

    try:
        raise Alpha("parent handling this")
    except Alpha:
        with pytest.raises(Beta, match=r"^from child$") as info:
            greenlet.greenlet(child).switch()
    # The child had no exception of its own in flight.
    assert info.value.__context__ is None


def test_chaining_inside_a_greenlet_uses_its_own_handled_exception():
    main = getcurrent()

    def child():
        try:
            raise Alpha("child's")
        except Alpha:
            main.switch()
            raise Beta("second")  # implicitly chained to Alpha

    g = greenlet.greenlet(child)
    g.switch()
    try:
        raise KeyError("main's")
    except KeyError:
        with pytest.raises(Beta, match=r"^second$") as info:
            g.switch()
    assert type(info.value.__context__) is Alpha
    assert str(info.value.__context__) == "child's"


def test_finishing_inside_except_restores_parent_state():
    def body():
        try:
            raise Alpha
        except Alpha:
            return sys.exc_info()[0]

    try:
        raise Beta
    except Beta:
        assert greenlet.greenlet(body).switch() is Alpha
        assert sys.exc_info()[0] is Beta
    assert sys.exc_info() == NO_EXC


def test_new_greenlet_starts_with_no_exception_even_from_an_except_block():
    try:
        raise Alpha
    except Alpha:
        assert greenlet.greenlet(sys.exc_info).switch() == NO_EXC


@pytest.mark.skipif(not hasattr(sys, "exception"),
                    reason="sys.exception() is new in Python 3.11")
def test_sys_exception_is_per_greenlet():
    main = getcurrent()

    def body():
        try:
            raise Alpha("inner")
        except Alpha:
            main.switch(sys.exception())
            return sys.exception()

    g = greenlet.greenlet(body)
    inner = g.switch()
    assert isinstance(inner, Alpha)
    assert sys.exception() is None
    assert g.switch() is inner


def test_generator_exception_state_inside_greenlets():
    main = getcurrent()

    def gen():
        try:
            raise OSError("gen")
        except OSError:
            yield sys.exc_info()[0]
            yield sys.exc_info()[0]

    def body():
        it = gen()
        first = next(it)
        main.switch((first, sys.exc_info()[0]))
        return (next(it), sys.exc_info()[0])

    g = greenlet.greenlet(body)
    # Inside the generator the OSError is being handled; outside it, in
    # the greenlet, nothing is.
    assert g.switch() == (OSError, None)
    assert sys.exc_info() == NO_EXC
    assert g.switch() == (OSError, None)


def test_kill_inside_except_block_keeps_exception_state_consistent():
    main = getcurrent()
    seen = []

    def body():
        try:
            raise Alpha
        except Alpha:
            try:
                main.switch()
            except greenlet.GreenletExit:
                seen.append(sys.exc_info()[0])
                raise
            finally:
                seen.append("finally")

    g = greenlet.greenlet(body)
    g.switch()
    try:
        raise Beta
    except Beta:
        del g
        assert sys.exc_info()[0] is Beta
    assert seen == [greenlet.GreenletExit, "finally"]


# ---------------------------------------------------------------------------
# Recursion depth
# ---------------------------------------------------------------------------

@pytest.fixture
def low_recursion_limit():
    """Lower the recursion limit to a few hundred frames above where we are
    now, so exhausting it is quick; restore it afterwards."""
    old = sys.getrecursionlimit()
    # The first limit the interpreter accepts is just above the current
    # depth; give ourselves some headroom above that.
    limit = 50
    while True:
        try:
            sys.setrecursionlimit(limit)
        except RecursionError:
            limit += 50
            continue
        break
    try:
        sys.setrecursionlimit(limit + 300)
        yield
    finally:
        sys.setrecursionlimit(old)


def max_depth(n=0):
    """How many more nested calls fit before RecursionError."""
    try:
        return max_depth(n + 1)
    except RecursionError:
        return n


def test_each_greenlet_counts_its_own_depth(low_recursion_limit):
    main = getcurrent()
    fresh_room = greenlet.greenlet(max_depth).switch()
    assert fresh_room > 100

    def descend(n, target):
        if n < target:
            return descend(n + 1, target)
        main.switch("parked")
        # Resumed: how much room is left down here?
        return max_depth()

    # Park several greenlets almost at the limit.  If depth were shared
    # they could not all get there.
    near = fresh_room - 40
    parked = [greenlet.greenlet(descend) for _ in range(4)]
    for g in parked:
        assert g.switch(0, near) == "parked"

    # A new greenlet, and main itself, still have all their room.
    assert greenlet.greenlet(max_depth).switch() == fresh_room
    assert max_depth() >= fresh_room - 5

    # Each parked greenlet only has what is left of its own budget.
    for g in parked:
        left = g.switch()
        assert 0 < left < 60


def test_recursion_error_in_one_greenlet_does_not_affect_others(
        low_recursion_limit):
    main = getcurrent()

    def runaway(n=0):
        return runaway(n + 1)

    def victim():
        try:
            runaway()
        except RecursionError:
            main.switch("hit the limit")
        return max_depth()

    def calm():
        main.switch("calm parked")
        return max_depth()

    c = greenlet.greenlet(calm)
    assert c.switch() == "calm parked"
    v = greenlet.greenlet(victim)
    assert v.switch() == "hit the limit"
    # Both recover their full budget once back at their starting depth.
    from_v = v.switch()
    from_c = c.switch()
    assert from_v == from_c
    assert from_v > 100


def test_depth_is_restored_after_deep_greenlet_finishes(low_recursion_limit):
    before = max_depth()

    def deep(n):
        if n:
            return deep(n - 1)
        return greenlet.greenlet(max_depth).switch()

    # A greenlet started from deep inside another one inherits that depth.
    room_when_started_deep = greenlet.greenlet(deep).switch(50)
    assert room_when_started_deep < before
    assert max_depth() == before
