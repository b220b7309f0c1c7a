"""Dropping the last reference to a suspended greenlet kills it cleanly.

(Weak references to greenlets: see test_weakref.py.)
"""
import gc
import sys
import weakref

import pytest

from greenlet import GreenletExit, getcurrent, greenlet

from _support import run_python


def test_finally_runs_when_last_reference_dropped():
    """Resources held in an abandoned greenlet must still be released."""
    main = getcurrent()
    events = []

    def worker():
        try:
            events.append("started")
            main.switch()
            events.append("resumed?!")
        finally:
            events.append("cleanup")

    g = greenlet(worker)
    g.switch()
    assert events == ["started"]
    del g
    assert events == ["started", "cleanup"]


def test_greenlet_exit_is_what_gets_thrown():
    """Code can tell a kill from other errors by type and message."""
    main = getcurrent()
    caught = []

    def worker():
        try:
            main.switch()
        except GreenletExit as exc:
            caught.append(exc)
            raise

    g = greenlet(worker)
    g.switch()
    del g
    assert len(caught) == 1
    assert type(caught[0]) is GreenletExit
    assert caught[0].args == (
        "Killing the greenlet because all references have vanished.",
    )


def test_catching_greenlet_exit_and_returning_is_fine(capfd):
    """Returning normally after the kill is a clean death, no complaints."""
    main = getcurrent()
    log = []

    def worker():
        try:
            main.switch()
        except GreenletExit:
            log.append("caught")
            return "ignored return value"

    g = greenlet(worker)
    g.switch()
    ref = weakref.ref(g)
    del g
    assert log == ["caught"]
    assert ref() is None
    assert capfd.readouterr().err == ""


def test_infinite_loop_is_interrupted():
    """The documented idiom: a consumer loop that ends when abandoned."""
    main = getcurrent()
    processed = []
    exited = []

    def consumer():
        try:
            while True:
                processed.append(main.switch())
        except GreenletExit:
            exited.append(True)

    g = greenlet(consumer)
    g.switch()
    for item in "abc":
        g.switch(item)
    g = None
    assert processed == ["a", "b", "c"]
    assert exited == [True]


def test_cleanup_runs_in_the_greenlet_that_dropped_it():
    """During the kill, the dying greenlet's parent is whoever let go,
    not its nominal parent, and control comes back to that greenlet."""
    main = getcurrent()
    seen = []

    def victim():
        try:
            dropper_glet.switch("victim parked")
        finally:
            seen.append(getcurrent().parent)

    def dropper():
        g = greenlet(victim, parent=main)
        assert g.switch() == "victim parked"
        del g
        seen.append("dropper continues")
        return "dropper done"

    dropper_glet = greenlet(dropper)
    assert dropper_glet.switch() == "dropper done"
    assert seen == [dropper_glet, "dropper continues"]


def test_error_during_cleanup_goes_to_unraisable_hook(monkeypatch):
    """There is no caller to raise into, so the error is reported, not lost."""
    main = getcurrent()
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)

    def worker():
        try:
            main.switch()
        finally:
            raise ValueError("while dying")

    g = greenlet(worker)
    g.switch()
    ident = id(g)
    del g
    assert len(reports) == 1
    assert reports[0].exc_type is ValueError
    assert id(reports[0].object) == ident


def test_unstarted_and_finished_greenlets_just_go_away():
    """Only suspended greenlets need killing; the others are freed quietly."""
    ran = []
    pending = greenlet(lambda: ran.append("pending ran"))
    finished = greenlet(lambda: ran.append("finished ran"))
    finished.switch()
    refs = [weakref.ref(pending), weakref.ref(finished)]
    del pending, finished
    assert [r() for r in refs] == [None, None]
    assert ran == ["finished ran"]


@pytest.mark.parametrize("state", ["pending", "dead"])
def test_inactive_greenlet_in_a_reference_cycle_is_collected(state):
    """Pending and dead greenlets take part in cyclic GC like any object.

    (Suspended ones deliberately do not: see greenlet's GC docs.)
    """

    class Holder:
        pass

    holder = Holder()
    holder.glet = greenlet(lambda: None)
    holder.glet.holder = holder  # cycle through the greenlet's __dict__
    if state == "dead":
        holder.glet.switch()
    ref = weakref.ref(holder.glet)
    del holder
    gc.collect()
    assert ref() is None


def test_run_callable_cycle_is_collected_after_death():
    """A greenlet whose run closes over the greenlet itself is collectable."""

    def make():
        def body():
            return glet.dead
        glet = greenlet(body)
        return glet

    g = make()
    assert g.switch() is False
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None


def test_refusing_to_die_is_reported_on_stderr():
    """If the greenlet swallows GreenletExit and switches away again,
    upstream leaks it and prints a warning naming it."""
    result = run_python(
        """
        from greenlet import GreenletExit, getcurrent, greenlet
        main = getcurrent()
        def stubborn():
            while True:
                try:
                    main.switch()
                except GreenletExit:
                    pass
        g = greenlet(stubborn)
        g.switch()
        del g
        print("survived")
        """
    )
    assert result.assert_clean() == ["survived"]
    assert result.out == "survived\n"
    assert "GreenletExit did not kill <greenlet.greenlet object at 0x" in result.err, result.detail
