"""Walking the frames of a suspended greenlet is always safe and shows its own frames.

From CPython 3.12 each call from C into Python pushes a frame that lives on the C stack,
and the Python frame above it links to it. A suspended greenlet's part of the C stack is
overwritten by whichever greenlet runs next, so these tests make sure every f_back walk,
from gr_frame or from a frame object kept by user code, stays inside the greenlet's own
frames even after other greenlets have run, and that the greenlet then resumes and
unwinds normally.
"""
import functools
import sys

import greenlet

from _support import frame_names


def clobber_the_stack():
    """Run other greenlets at several depths, overwriting the C stack below us."""
    def deep(n):
        return deep(n - 1) if n else greenlet.getcurrent().parent.switch(n)
    for depth in (1, 30, 120):
        g = greenlet.greenlet(deep)
        g.switch(depth)
        g.switch()


def through_c(function, *args):
    """Call ``function`` from C (functools.reduce), so CPython enters a new eval loop."""
    return functools.reduce(lambda _, x: function(*args), [None], None)


def test_gr_frame_chain_through_c_reentries():
    def level(n):
        if n == 0:
            return greenlet.getcurrent().parent.switch("parked") or 0
        return through_c(level, n - 1) + 1

    g = greenlet.greenlet(level)
    assert g.switch(4) == "parked"
    clobber_the_stack()
    names = frame_names(g.gr_frame)
    # Only the greenlet's own Python frames: five `level` calls with the lambdas of the
    # C re-entries between them, ending at run, never reaching this test's frames.
    assert names.count("level") == 5
    assert names[-1] == "level"
    assert "test_gr_frame_chain_through_c_reentries" not in names
    assert g.switch(0) == 4  # resumes and unwinds through every C re-entry
    assert g.dead


def test_frame_object_kept_by_user_code_walks_safely():
    kept = []

    def inner():
        kept.append(sys._getframe())
        greenlet.getcurrent().parent.switch()

    def outer():
        through_c(inner)
        return "done"

    g = greenlet.greenlet(outer)
    g.switch()
    clobber_the_stack()
    names = frame_names(kept[0])
    assert names[0] == "inner"
    assert names[-1] == "outer"
    assert "test_frame_object_kept_by_user_code_walks_safely" not in names
    assert g.switch() == "done"


def test_traceback_frames_of_a_suspended_greenlet_walk_safely():
    caught = []

    def fail():
        raise KeyError("x")

    def body():
        try:
            through_c(fail)
        except KeyError:
            caught.append(sys.exc_info()[2])
        greenlet.getcurrent().parent.switch()
        return "finished"

    g = greenlet.greenlet(body)
    g.switch()
    clobber_the_stack()
    tb = caught[0]
    names = frame_names(tb.tb_frame)
    assert names == ["body"]
    assert g.switch() == "finished"


def test_many_suspended_greenlets_each_see_only_their_own_frames():
    def park(tag, depth):
        if depth:
            return through_c(park, tag, depth - 1)
        return greenlet.getcurrent().parent.switch(tag)

    glets = [greenlet.greenlet(park) for _ in range(20)]
    for i, g in enumerate(glets):
        assert g.switch(i, i % 5) == i
    clobber_the_stack()
    for i, g in enumerate(glets):
        names = frame_names(g.gr_frame)
        assert names.count("park") == i % 5 + 1
        assert set(names) <= {"park", "through_c", "<lambda>"}
    for i, g in enumerate(reversed(glets)):
        g.switch()
        assert g.dead


def test_switching_between_two_deep_greenlets_repeatedly():
    """Links are rerouted at every switch-out and restored at every resume."""
    def ping(depth, rounds):
        if depth:
            return through_c(ping, depth - 1, rounds)
        total = 0
        for _ in range(rounds):
            total += greenlet.getcurrent().parent.switch(total)
        return total

    a = greenlet.greenlet(ping)
    b = greenlet.greenlet(ping)
    a.switch(6, 50)
    b.switch(3, 50)
    for i in range(1, 50):
        a.switch(i)
        b.switch(i)
        assert frame_names(a.gr_frame).count("ping") == 7
        assert frame_names(b.gr_frame).count("ping") == 4
    assert a.switch(0) == sum(range(50))
    assert b.switch(0) == sum(range(50))
