"""A kill queued for later never takes another switch's value.

When the last reference to a suspended greenlet ``x`` goes away in another thread (or
while kills are nested too deep), ``x`` cannot be killed there: its kill is queued for its
own thread, and runs at the next greenlet call there, inside whatever greenlet is running
at that moment. Wherever that is (a switch that starts a greenlet, one that resumes one, a
throw, a greenlet's final switch, a switch from C), ``x``'s end goes to the kill and
nowhere else, and the value or exception of the switch that was going on reaches the
switch that asked for it.

Each test here: ``x`` is suspended in this thread; a greenlet ``g`` runs, has another thread
drop ``x``, then does one kind of switch. The switch from C is in test_capi.py.
"""
import pytest

import greenlet
from greenlet import getcurrent

from _support import DroppedElsewhere

UPSTREAM_FINISH = (
    "upstream runs a kill queued by another thread inside the finishing greenlet's last "
    "switch, so the parent gets the victim's GreenletExit in place of the returned value")


@pytest.mark.beyond_upstream(UPSTREAM_FINISH)
def test_a_returned_value_reaches_the_parent():
    victim = DroppedElsewhere()

    def body():
        victim.drop()
        return "done"

    assert greenlet.greenlet(body).switch() == "done"
    victim.assert_killed()


@pytest.mark.beyond_upstream(UPSTREAM_FINISH)
def test_a_raised_exception_reaches_the_parent():
    victim = DroppedElsewhere()

    def body():
        victim.drop()
        raise KeyError("from g")

    with pytest.raises(KeyError) as info:
        greenlet.greenlet(body).switch()
    assert info.value.args == ("from g",)
    victim.assert_killed()


@pytest.mark.beyond_upstream(UPSTREAM_FINISH)
def test_a_greenlet_exit_of_its_own_reaches_the_parent_as_a_value():
    victim = DroppedElsewhere()
    mine = greenlet.GreenletExit("g's own")

    def body():
        victim.drop()
        raise mine

    assert greenlet.greenlet(body).switch() is mine
    victim.assert_killed()


def test_the_first_switch_into_a_new_greenlet_gets_its_result():
    victim = DroppedElsewhere()

    def body():
        child = greenlet.greenlet(lambda *args, **kwargs: ("child got", args, kwargs))
        victim.drop()
        return child.switch(1, two=2)

    assert greenlet.greenlet(body).switch() == ("child got", (1,), {"two": 2})
    victim.assert_killed()


def test_a_switch_to_a_suspended_greenlet_carries_its_value_both_ways():
    victim = DroppedElsewhere()
    main = getcurrent()

    def body():
        victim.drop()
        return ("g got", main.switch("to main"))

    g = greenlet.greenlet(body)
    assert g.switch() == "to main"
    assert g.switch("back") == ("g got", "back")
    victim.assert_killed()


def test_a_caught_throw_returns_the_catchers_value():
    victim = DroppedElsewhere()

    def catcher():
        try:
            getcurrent().parent.switch("ready")
        except ValueError as e:
            return ("caught", e.args)

    def body():
        child = greenlet.greenlet(catcher)
        assert child.switch() == "ready"
        victim.drop()
        return child.throw(ValueError("thrown"))

    assert greenlet.greenlet(body).switch() == ("caught", ("thrown",))
    victim.assert_killed()


def test_an_uncaught_throw_raises_in_the_thrower():
    victim = DroppedElsewhere()

    def body():
        child = greenlet.greenlet(lambda: getcurrent().parent.switch("ready"))
        assert child.switch() == "ready"
        victim.drop()
        try:
            child.throw(ValueError("thrown"))
        except ValueError as e:
            return ("propagated", e.args, child.dead)

    assert greenlet.greenlet(body).switch() == ("propagated", ("thrown",), True)
    victim.assert_killed()


def test_a_throw_into_a_greenlet_that_never_started():
    victim = DroppedElsewhere()

    def body():
        child = greenlet.greenlet(lambda: "never runs")
        victim.drop()
        with pytest.raises(ValueError) as info:
            child.throw(ValueError("unstarted"))
        return (info.value.args, child.dead)

    assert greenlet.greenlet(body).switch() == (("unstarted",), True)
    victim.assert_killed()


def test_getcurrent_and_creation_run_the_kill_where_they_are():
    for call in (getcurrent, greenlet.greenlet):
        victim = DroppedElsewhere()

        def body():
            victim.drop()
            call()
            assert victim.log == ["victim finally"]
            return "after"

        assert greenlet.greenlet(body).switch() == "after"
        victim.assert_killed()


@pytest.mark.beyond_upstream(UPSTREAM_FINISH)
def test_kills_queued_in_a_chain_of_finishing_greenlets():
    """Each greenlet in a chain finishes right after the kills were queued: none may run
    inside a final switch, and every result goes up the chain."""
    victims = [DroppedElsewhere() for _ in range(3)]

    def level(n):
        if n == len(victims):
            return ["bottom"]
        child = greenlet.greenlet(level)
        below = child.switch(n + 1)
        victims[n].drop()
        return below + [n]

    assert greenlet.greenlet(level).switch(0) == ["bottom", 2, 1, 0]
    for victim in victims:
        victim.assert_killed()
