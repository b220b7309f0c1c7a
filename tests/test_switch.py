"""Values passed through switch() in both directions."""
import pytest

from greenlet import getcurrent, greenlet


def capture(*args, **kwargs):
    """A run function that reports exactly how it was called."""
    return args, kwargs


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((), {}),
        ((1,), {}),
        (("a", "b", "c"), {}),
        ((), {"x": 1, "y": 2}),
        ((None, 2), {"z": 3}),
    ],
)
def test_first_switch_calls_run_with_args_and_kwargs(args, kwargs):
    """The first switch is a plain call: run(*args, **kwargs)."""
    assert greenlet(capture).switch(*args, **kwargs) == (args, kwargs)


def test_first_switch_with_signature_mismatch_raises_in_switcher():
    """A TypeError from calling run surfaces in whoever switched."""
    def run(only):
        return only

    g = greenlet(run)
    with pytest.raises(TypeError) as info:
        g.switch(1, 2)
    # CPython's own message for the bad call, naming the run callable.
    assert str(info.value) == (
        "%s() takes 1 positional argument but 2 were given" % run.__qualname__)
    assert g.dead


def test_return_value_of_run_goes_to_parent():
    """Returning from run is the final switch to the parent."""
    here = getcurrent()
    g = greenlet(lambda: {"result": here is g.parent})
    assert g.switch() == {"result": True}


def test_run_returning_none_delivers_none():
    """Falling off the end is an ordinary ``return None``."""
    assert greenlet(lambda: None).switch() is None


def test_run_returning_a_tuple_is_not_unpacked():
    """Return values are delivered as-is, never re-packed."""
    assert greenlet(lambda: (1, 2)).switch() == (1, 2)
    assert greenlet(lambda: ()).switch() == ()


def _relay_loop():
    parent = getcurrent().parent
    received = parent.switch()
    while True:
        received = parent.switch(("received", received))


class Relay:
    """Holds a child greenlet that hands every value it is resumed with
    straight back to the parent, so we can see how switch() packs them.

    The child's run is a module-level function rather than a method: a
    suspended greenlet in a reference cycle would never be reclaimed.
    """

    def __init__(self):
        self.glet = greenlet(_relay_loop)
        self.glet.switch()  # park it at its first switch

    def send(self, *args, **kwargs):
        return self.glet.switch(*args, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        ((), {}, ()),
        ((7,), {}, 7),
        ((None,), {}, None),
        (((),), {}, ()),
        ((1, 2), {}, (1, 2)),
        ((1, 2, 3), {}, (1, 2, 3)),
        ((), {"k": "v"}, {"k": "v"}),
        ((), {"a": 1, "b": 2}, {"a": 1, "b": 2}),
        ((1,), {"k": "v"}, ((1,), {"k": "v"})),
        ((1, 2), {"k": "v"}, ((1, 2), {"k": "v"})),
    ],
)
def test_resumed_greenlet_receives_packed_value(args, kwargs, expected):
    """Inside a resumed greenlet, switch() returns: () for nothing, the
    object for a single argument, a tuple for several, the dict for only
    keywords, and (args, kwargs) when both are given."""
    relay = Relay()
    result = relay.send(*args, **kwargs)
    assert result == ("received", expected)
    assert type(result[1]) is type(expected)


def test_values_switched_back_to_parent_are_packed_the_same_way():
    """The same packing applies to what the parent's switch() returns."""

    def producer():
        parent = getcurrent().parent
        parent.switch()
        parent.switch("one")
        parent.switch("x", "y")
        parent.switch(flag=True)
        parent.switch(0, flag=False)
        return "finished"

    g = greenlet(producer)
    assert g.switch() == ()
    assert g.switch() == "one"
    assert g.switch() == ("x", "y")
    assert g.switch() == {"flag": True}
    assert g.switch() == ((0,), {"flag": False})
    assert g.switch() == "finished"
    assert g.dead


def test_single_tuple_argument_is_passed_through_unchanged():
    """A single argument is never unpacked, even if it is a tuple."""
    relay = Relay()
    assert relay.send((1, 2)) == ("received", (1, 2))
    assert relay.send(((1,), {"k": 1})) == ("received", ((1,), {"k": 1}))


def test_kwargs_dict_is_a_fresh_dict():
    """Mutating the received dict must not affect the caller's mapping."""
    relay = Relay()
    options = {"a": 1}
    _, got = relay.send(**options)
    got["b"] = 2
    assert options == {"a": 1}


def test_switch_to_current_greenlet_returns_arguments():
    """Switching to yourself is a no-op that hands back the packed args."""
    me = getcurrent()
    assert me.switch() == ()
    assert me.switch("solo") == "solo"
    assert me.switch(1, 2) == (1, 2)
    assert me.switch(key=1) == {"key": 1}
    assert me.switch(1, key=1) == ((1,), {"key": 1})


def test_switch_to_self_inside_a_greenlet():
    """The same holds for a non-main current greenlet."""
    def body():
        me = getcurrent()
        return [me.switch(), me.switch(3), me.switch(3, 4, five=5)]

    assert greenlet(body).switch() == [(), 3, ((3, 4), {"five": 5})]


def test_ping_pong_between_two_siblings():
    """Two greenlets passing a counter back and forth never involve main."""
    log = []

    def ping(n):
        while n < 6:
            log.append(("ping", n))
            n = pong.switch(n + 1)
        return ("ping done", n)

    def pong(n):
        while True:
            log.append(("pong", n))
            n = ping_g.switch(n + 1)

    ping_g = greenlet(ping)
    pong = greenlet(pong)
    assert ping_g.switch(0) == ("ping done", 6)
    assert log == [
        ("ping", 0), ("pong", 1), ("ping", 2),
        ("pong", 3), ("ping", 4), ("pong", 5),
    ]
    assert ping_g.dead
    assert not pong.dead
    pong.throw()


class TestSwitchToDead:
    """Switching to a finished greenlet goes to its parent instead."""

    def test_switch_to_dead_child_from_parent_returns_args(self):
        """When we are the parent, the switch just comes back to us."""
        g = greenlet(lambda: "first")
        assert g.switch() == "first"
        assert g.dead
        # The parent is the caller, so the switch lands right back here.
        assert g.switch() == ()
        assert g.switch("again") == "again"
        assert g.switch(1, 2) == (1, 2)
        assert g.switch(k=1) == {"k": 1}

    def test_switch_to_dead_greenlet_resumes_its_parent(self):
        """The parent resumes even when it is suspended elsewhere."""
        main = getcurrent()

        def waiter():
            got = main.switch("waiting")
            return ("waiter resumed with", got)

        w = greenlet(waiter)
        assert w.switch() == "waiting"
        dead = greenlet(lambda: "gone", parent=w)
        # Runs to completion: its return value resumes w, whose own return
        # value then comes to main (w's parent).
        assert dead.switch() == ("waiter resumed with", "gone")
        assert dead.dead and w.dead

    def test_switch_to_dead_walks_up_past_dead_parents(self):
        """Dead parents are skipped until a live ancestor is found."""
        main = getcurrent()

        def waiter():
            return ("resumed", main.switch())

        live = greenlet(waiter)
        live.switch()
        dead_parent = greenlet(lambda: None, parent=live)
        dead_child = greenlet(lambda: None, parent=dead_parent)
        # Start and finish them without disturbing `live`.
        dead_parent.parent = main
        dead_parent.switch()
        dead_child.parent = main
        dead_child.switch()
        assert dead_child.dead and dead_parent.dead
        # Re-parent the dead chain onto the suspended greenlet.
        dead_child.parent = dead_parent
        dead_parent.parent = live
        assert dead_child.switch("payload") == ("resumed", "payload")
        assert live.dead
