"""greenlet.settrace / greenlet.gettrace: switch and throw notifications."""
import threading

import pytest

import greenlet
from greenlet import GreenletExit, getcurrent


@pytest.fixture(autouse=True)
def no_tracer_leaks():
    """Every test starts and ends without a greenlet tracer installed."""
    previous = greenlet.settrace(None)
    try:
        yield
    finally:
        greenlet.settrace(previous)


class Recorder(object):
    """A trace function that remembers what it saw, by name."""

    def __init__(self, **names):
        self.names = {id(v): k for k, v in names.items()}
        self.events = []
        self.current_during_call = []

    def name(self, g):
        return self.names.get(id(g), getattr(g, "label", repr(g)))

    def __call__(self, event, args):
        origin, target = args
        self.events.append((event, self.name(origin), self.name(target)))
        self.current_during_call.append(self.name(getcurrent()))


def labelled(run, label, parent=None):
    g = greenlet.greenlet(run, parent)
    g.label = label
    return g


# ---------------------------------------------------------------------------
# settrace / gettrace bookkeeping
# ---------------------------------------------------------------------------

def test_nothing_installed_by_default():
    assert greenlet.gettrace() is None


def test_settrace_returns_the_previous_function():
    def first(event, args):
        pass

    def second(event, args):
        pass

    assert greenlet.settrace(first) is None
    assert greenlet.gettrace() is first
    assert greenlet.settrace(second) is first
    assert greenlet.gettrace() is second
    assert greenlet.settrace(None) is second
    assert greenlet.gettrace() is None
    assert greenlet.settrace(None) is None


def test_same_function_installed_twice():
    rec = Recorder()
    greenlet.settrace(rec)
    assert greenlet.settrace(rec) is rec
    greenlet.greenlet(lambda: None).switch()
    assert greenlet.settrace(None) is rec
    assert len(rec.events) == 2


def test_settrace_arguments():
    # Both messages are CPython's argument-checking wording (PyArg_ParseTuple for
    # settrace, METH_NOARGS for gettrace), the same on 3.10 to 3.15.
    with pytest.raises(TypeError, match=r"^function takes exactly 1 argument \(0 given\)$"):
        greenlet.settrace()
    with pytest.raises(TypeError, match=r"^function takes exactly 1 argument \(2 given\)$"):
        greenlet.settrace(None, None)
    with pytest.raises(
            TypeError,
            match=r"^greenlet\._greenlet\.gettrace\(\) takes no arguments \(1 given\)$"):
        greenlet.gettrace(None)
    assert greenlet.gettrace() is None


def test_tracer_is_not_called_while_nothing_switches():
    rec = Recorder()
    greenlet.settrace(rec)
    getcurrent()
    greenlet.greenlet(lambda: None)  # created, never switched to
    greenlet.settrace(None)
    assert rec.events == []


# ---------------------------------------------------------------------------
# Event stream
# ---------------------------------------------------------------------------

def test_switch_events_for_a_round_trip():
    main = getcurrent()

    def body():
        main.switch("paused")
        return "done"

    g = labelled(body, "g")
    rec = Recorder(main=main)
    greenlet.settrace(rec)
    assert g.switch() == "paused"
    assert g.switch() == "done"
    greenlet.settrace(None)
    assert rec.events == [
        ("switch", "main", "g"),
        ("switch", "g", "main"),
        ("switch", "main", "g"),
        ("switch", "g", "main"),  # falling off the end returns to the parent
    ]


def test_tracer_runs_in_the_target_greenlet():
    main = getcurrent()
    g = labelled(lambda: main.switch(), "g")
    rec = Recorder(main=main)
    greenlet.settrace(rec)
    g.switch()
    greenlet.settrace(None)
    assert rec.current_during_call == ["g", "main"]
    g.switch()


def test_switch_between_siblings_reports_each_hop():
    main = getcurrent()
    a = b = None

    def run_a():
        b.switch()
        return "a done"

    def run_b():
        a.switch()

    a = labelled(run_a, "a")
    b = labelled(run_b, "b")
    rec = Recorder(main=main)
    greenlet.settrace(rec)
    assert a.switch() == "a done"
    greenlet.settrace(None)
    assert rec.events == [
        ("switch", "main", "a"),
        ("switch", "a", "b"),
        ("switch", "b", "a"),
        ("switch", "a", "main"),
    ]


def test_throw_events():
    main = getcurrent()

    def survives():
        try:
            main.switch()
        except KeyError:
            pass
        return "handled"

    def dies():
        main.switch()

    rec = Recorder(main=main)
    g1 = labelled(survives, "g1")
    g2 = labelled(dies, "g2")
    g1.switch()
    g2.switch()
    greenlet.settrace(rec)
    assert g1.throw(KeyError) == "handled"
    with pytest.raises(KeyError) as info:
        g2.throw(KeyError)
    assert info.value.args == ()
    greenlet.settrace(None)
    assert rec.events == [
        ("throw", "main", "g1"),
        ("switch", "g1", "main"),  # handled: a normal return
        ("throw", "main", "g2"),
        ("throw", "g2", "main"),  # unhandled: propagates as a throw
    ]


def test_exception_escaping_run_is_a_throw_event():
    main = getcurrent()

    def bad():
        raise ArithmeticError

    g = labelled(bad, "bad")
    rec = Recorder(main=main)
    greenlet.settrace(rec)
    with pytest.raises(ArithmeticError) as info:
        g.switch()
    assert type(info.value) is ArithmeticError and info.value.args == ()
    greenlet.settrace(None)
    assert rec.events == [("switch", "main", "bad"), ("throw", "bad", "main")]


def test_throw_into_unstarted_greenlet():
    main = getcurrent()
    g = labelled(lambda: "never runs", "fresh")
    rec = Recorder(main=main)
    greenlet.settrace(rec)
    with pytest.raises(IndexError) as info:
        g.throw(IndexError)
    assert info.value.args == ()
    greenlet.settrace(None)
    assert rec.events == [("throw", "main", "fresh"), ("throw", "fresh", "main")]
    assert g.dead


def test_garbage_collection_kill_is_a_throw_event():
    main = getcurrent()

    def body():
        try:
            main.switch()
        except GreenletExit:
            return "cleaned"

    g = labelled(body, "victim")
    g.switch()
    rec = Recorder(main=main)
    greenlet.settrace(rec)
    del g
    greenlet.settrace(None)
    assert rec.events == [("throw", "main", "victim"),
                          ("switch", "victim", "main")]


def test_subclass_instances_are_passed_through():
    class Named(greenlet.greenlet):
        pass

    seen = []

    def tracer(event, args):
        seen.append(tuple(type(x) for x in args))

    g = Named(lambda: None)
    greenlet.settrace(tracer)
    g.switch()
    greenlet.settrace(None)
    assert seen == [(greenlet.greenlet, Named), (Named, greenlet.greenlet)]


def test_args_is_a_two_tuple():
    shapes = []

    def tracer(event, args):
        shapes.append((type(event), type(args), len(args)))

    greenlet.settrace(tracer)
    greenlet.greenlet(lambda: None).switch()
    greenlet.settrace(None)
    assert shapes == [(str, tuple, 2)] * 2


# ---------------------------------------------------------------------------
# A failing tracer
# ---------------------------------------------------------------------------

class TracerBroke(Exception):
    pass


def broken_tracer(event, args):
    raise TracerBroke(event)


def test_raising_tracer_is_removed_and_error_reaches_switcher():
    main = getcurrent()
    g = greenlet.greenlet(lambda: main.switch())
    g.switch()
    greenlet.settrace(broken_tracer)
    with pytest.raises(TracerBroke) as info:
        g.switch()
    assert info.value.args == ("switch",)
    assert greenlet.gettrace() is None


def test_error_from_tracer_is_delivered_inside_the_target():
    # The tracer runs in the target, so its exception surfaces where the
    # target was suspended, exactly as though the target had been thrown
    # into.
    main = getcurrent()

    def body():
        try:
            main.switch("parked")
        except TracerBroke as e:
            return "target saw: %s" % e

    g = greenlet.greenlet(body)
    assert g.switch() == "parked"
    greenlet.settrace(broken_tracer)
    assert g.switch() == "target saw: switch"
    assert greenlet.gettrace() is None
    assert g.dead


def test_raising_tracer_on_start_means_run_never_executes():
    ran = []
    g = greenlet.greenlet(lambda: ran.append(True))
    greenlet.settrace(broken_tracer)
    with pytest.raises(TracerBroke) as info:
        g.switch()
    assert info.value.args == ("switch",)
    assert ran == []
    assert g.dead
    assert greenlet.gettrace() is None


def test_raising_tracer_on_the_way_back_to_the_parent():
    def body():
        greenlet.settrace(broken_tracer)
        return "value lost"

    g = greenlet.greenlet(body)
    with pytest.raises(TracerBroke) as info:
        g.switch()
    assert info.value.args == ("switch",)
    assert g.dead
    assert greenlet.gettrace() is None


def test_raising_tracer_on_throw_replaces_the_exception():
    main = getcurrent()
    caught = []

    def body():
        try:
            main.switch()
        except BaseException as e:
            caught.append(type(e))
            raise

    g = greenlet.greenlet(body)
    g.switch()
    greenlet.settrace(broken_tracer)
    with pytest.raises(TracerBroke) as info:
        g.throw(KeyError)
    assert info.value.args == ("throw",)
    assert caught == [TracerBroke]
    assert greenlet.gettrace() is None


def test_non_callable_tracer_is_accepted_then_fails_on_first_switch():
    ran = []
    assert greenlet.settrace(12345) is None
    assert greenlet.gettrace() == 12345
    g = greenlet.greenlet(lambda: ran.append(1))
    # CPython's wording for calling a non-callable.
    with pytest.raises(TypeError, match=r"^'int' object is not callable$"):
        g.switch()
    assert greenlet.gettrace() is None
    assert ran == []
    # Everything works normally afterwards.
    assert greenlet.greenlet(lambda: "ok").switch() == "ok"


# ---------------------------------------------------------------------------
# Switching from inside the trace function
# ---------------------------------------------------------------------------

def test_tracer_may_switch_elsewhere_and_come_back():
    main = getcurrent()
    log = []

    def side_body(note):
        log.append(("side started", note))
        # Resume the trace function, which is running in `target`.
        note = target.switch("from side")
        log.append(("side resumed", note))
        return "side finished"

    def target_body():
        log.append("target body runs")
        return "target finished"

    side = greenlet.greenlet(side_body)
    target = greenlet.greenlet(target_body)
    detoured = []

    def tracer(event, args):
        origin, dest = args
        log.append((event, origin is main, dest is target, dest is side))
        if dest is target and not detoured:
            detoured.append(True)
            answer = side.switch("from tracer")
            log.append(("tracer resumed", answer))

    greenlet.settrace(tracer)
    result = target.switch()
    greenlet.settrace(None)
    assert result == "target finished"
    assert log == [
        ("switch", True, True, False),   # main -> target
        ("switch", False, False, True),  # target (in tracer) -> side
        ("side started", "from tracer"),
        ("switch", False, True, False),  # side -> target, back to tracer
        ("tracer resumed", "from side"),
        "target body runs",
        ("switch", False, False, False),  # target -> main
    ]
    # side is still parked where it switched to target.
    assert not side.dead
    assert side.switch("wake") == "side finished"
    assert log[-1] == ("side resumed", "wake")


def test_tracer_can_uninstall_itself():
    calls = []

    def once(event, args):
        calls.append(event)
        greenlet.settrace(None)

    greenlet.settrace(once)
    greenlet.greenlet(lambda: None).switch()
    assert calls == ["switch"]
    assert greenlet.gettrace() is None


def test_tracer_can_replace_itself():
    calls = []

    def second(event, args):
        calls.append(("second", event))

    def first(event, args):
        calls.append(("first", event))
        greenlet.settrace(second)

    greenlet.settrace(first)
    greenlet.greenlet(lambda: None).switch()
    assert calls == [("first", "switch"), ("second", "switch")]
    assert greenlet.gettrace() is second


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------

def test_tracer_is_per_thread():
    main_calls = []
    greenlet.settrace(lambda event, args: main_calls.append(event))
    seen = {}

    def in_thread():
        seen["initial"] = greenlet.gettrace()
        own = []
        seen["previous"] = greenlet.settrace(
            lambda event, args: own.append(event))
        greenlet.greenlet(lambda: None).switch()
        seen["own"] = own
        seen["cleared"] = greenlet.settrace(None) is not None

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(10)
    assert not t.is_alive()
    assert seen["initial"] is None
    assert seen["previous"] is None
    assert seen["own"] == ["switch", "switch"]
    assert seen["cleared"]
    # The thread's greenlet activity did not reach our tracer, and ours is
    # still installed.
    assert main_calls == []
    greenlet.greenlet(lambda: None).switch()
    assert main_calls == ["switch", "switch"]


def test_raising_tracer_during_a_garbage_collection_kill(monkeypatch):
    # Nobody called switch() here, so the tracer's error has nowhere to go
    # but the unraisable hook; the tracer is removed all the same.
    main = getcurrent()
    unraisable = []
    monkeypatch.setattr(
        "sys.unraisablehook",
        lambda info: unraisable.append((type(info.exc_value), str(info.exc_value))))
    seen_in_victim = []

    def body():
        try:
            main.switch()
        except BaseException as e:
            seen_in_victim.append(type(e))
            raise

    g = greenlet.greenlet(body)
    g.switch()
    greenlet.settrace(broken_tracer)
    del g
    assert greenlet.gettrace() is None
    assert seen_in_victim == [TracerBroke]
    assert unraisable == [(TracerBroke, "throw")]


def test_tracer_may_bounce_back_to_the_origin():
    # The tracer for main -> target switches straight back to main.  The
    # target's run has not started yet; when main later resumes the target,
    # the tracer finishes and run receives the *original* arguments.
    main = getcurrent()
    log = []
    target = labelled(lambda *args: ("run got", args), "target")
    bounced = []

    def tracer(event, args):
        origin, dest = args
        log.append((event, origin is main, dest is target))
        if dest is target and not bounced:
            bounced.append(True)
            log.append(("tracer resumed with", main.switch("bounced")))

    greenlet.settrace(tracer)
    assert target.switch("original") == "bounced"
    assert target.switch("second") == ("run got", ("original",))
    greenlet.settrace(None)
    assert log == [
        ("switch", True, True),
        ("switch", False, False),  # target (inside the tracer) -> main
        ("switch", True, True),
        ("tracer resumed with", "second"),
        ("switch", False, False),
    ]
