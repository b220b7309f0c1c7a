"""Misuse of the API raises ordinary Python exceptions and never crashes.

Besides wrong argument types, this covers greenlets that are only
half-initialised, and switches made from places the interpreter does not
expect: finalizers running during garbage collection and weakref
callbacks.
"""
import gc
import re
import weakref

import pytest

import greenlet
import greenlet._greenlet
from greenlet import getcurrent

from _support import assert_still_parked, parked_greenlet

G = greenlet.greenlet


def exactly(message):
    """An anchored pattern for ``pytest.raises(match=...)`` that matches only ``message``."""
    return "^%s$" % re.escape(message)


class Strange(object):
    pass


NON_GREENLETS = [
    pytest.param(0, id="int"),
    pytest.param("main", id="str"),
    pytest.param(Strange(), id="instance"),
    pytest.param(G, id="greenlet-type"),
    pytest.param([getcurrent()], id="list-of-greenlet"),
]


def checker_message(obj):
    return ("GreenletChecker: Expected any type of greenlet, not %s"
            % type(obj).__name__)


# greenlet's messages for throw() arguments that make no exception.
NOT_AN_EXCEPTION = "exceptions must be classes, or instances, not %s"
SEPARATE_VALUE = "instance exception may not have a separate value"


def descriptor_message(name, obj):
    """CPython's message for a greenlet method or attribute descriptor used on ``obj``."""
    return ("descriptor '%s' for 'greenlet.greenlet' objects doesn't apply to a '%s' object"
            % (name, type(obj).__name__))


# ---------------------------------------------------------------------------
# Constructor
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bogus", NON_GREENLETS)
def test_constructor_parent_of_wrong_type(bogus):
    with pytest.raises(TypeError) as info:
        G(None, bogus)
    assert str(info.value) == checker_message(bogus)
    with pytest.raises(TypeError) as info:
        G(parent=bogus)
    assert str(info.value) == checker_message(bogus)


def test_constructor_argument_count_and_names():
    with pytest.raises(TypeError, match=exactly("green() takes at most 2 arguments (3 given)")):
        G(None, None, None)
    # CPython's argument parsing words this one differently on 3.10 ("'target' is an
    # invalid keyword argument for green()"): match only the parts common to all versions.
    with pytest.raises(TypeError,
                       match=r"^(?=.*\bgreen\(\))(?=.*\bkeyword argument\b)(?=.*'target')"):
        G(target=len)
    with pytest.raises(TypeError, match=exactly(
            "argument for green() given by name ('run') and position (1)")):
        G(lambda: None, run=lambda: None)
    with pytest.raises(TypeError, match=exactly("green() takes at most 2 arguments (3 given)")):
        G(None, parent=getcurrent(), extra=True)


@pytest.mark.parametrize("run", [
    pytest.param(42, id="int"),
    pytest.param("callable? no", id="str"),
    pytest.param(Strange(), id="instance"),
])
def test_non_callable_run_fails_on_first_switch(run):
    g = G(run)
    assert g.run is run  # accepted at construction
    with pytest.raises(TypeError,
                       match=exactly("'%s' object is not callable" % type(run).__name__)):
        g.switch()
    assert g.dead
    # A dead greenlet passes further switches to its parent, i.e. us.
    assert g.switch("echo") == "echo"


def test_run_that_rejects_the_arguments():
    g = G(lambda a, b: a + b)
    with pytest.raises(TypeError, match=exactly(
            "%s() missing 1 required positional argument: 'b'" % g.run.__qualname__)):
        g.switch(1)
    assert g.dead
    h = G(lambda: None)
    with pytest.raises(TypeError, match=exactly(
            "%s() got an unexpected keyword argument 'unexpected'" % h.run.__qualname__)):
        h.switch(unexpected=True)


# ---------------------------------------------------------------------------
# Unbound methods and descriptors used on the wrong objects
# ---------------------------------------------------------------------------

WRONG_SELVES = [
    pytest.param(None, id="None"),
    pytest.param(object(), id="object"),
    pytest.param(1, id="int"),
    pytest.param(G, id="type"),
    pytest.param(Strange(), id="instance"),
]


@pytest.mark.parametrize("self_", WRONG_SELVES)
@pytest.mark.parametrize("method", ["switch", "throw", "__getstate__"])
def test_unbound_methods_with_wrong_self(method, self_):
    with pytest.raises(TypeError) as info:
        getattr(G, method)(self_)
    assert str(info.value) == descriptor_message(method, self_)
    with pytest.raises(TypeError) as info:
        getattr(G, method)(self_, 1, 2)
    assert str(info.value) == descriptor_message(method, self_)


@pytest.mark.parametrize("self_", WRONG_SELVES)
@pytest.mark.parametrize("slot", ["__bool__", "__repr__", "__init__"])
def test_slot_wrappers_with_wrong_self(slot, self_):
    with pytest.raises(TypeError) as info:
        getattr(G, slot)(self_)
    assert str(info.value) == (
        "descriptor '%s' requires a 'greenlet.greenlet' object but received a '%s'"
        % (slot, type(self_).__name__))


def test_unbound_switch_without_any_self():
    with pytest.raises(TypeError,
                       match=exactly("unbound method greenlet.switch() needs an argument")):
        G.switch()
    with pytest.raises(TypeError,
                       match=exactly("unbound method greenlet.throw() needs an argument")):
        G.throw()


def test_unbound_calls_with_a_real_greenlet_work():
    g = G(lambda *args: args)
    assert G.switch(g, 1, 2) == (1, 2)
    h = parked_greenlet()
    with pytest.raises(KeyError, match=r"^$"):  # instantiated with no arguments
        G.throw(h, KeyError)
    assert h.dead


@pytest.mark.parametrize("cls", [int, object, Strange, type])
def test_new_with_a_class_that_is_not_a_greenlet(cls):
    with pytest.raises(TypeError, match=exactly(
            "greenlet.greenlet.__new__(%s): %s is not a subtype of greenlet.greenlet"
            % (cls.__name__, cls.__name__))):
        G.__new__(cls)


def _getset_names():
    return sorted(name for name, d in vars(G).items()
                  if type(d).__name__ == "getset_descriptor")


@pytest.mark.parametrize("name", _getset_names())
def test_attribute_descriptors_reject_foreign_objects(name):
    descriptor = vars(G)[name]
    for victim in (object(), 3, Strange(), G):
        message = exactly(descriptor_message(name, victim))
        with pytest.raises(TypeError, match=message):
            descriptor.__get__(victim, type(victim))
        with pytest.raises(TypeError, match=message):
            descriptor.__set__(victim, None)
        with pytest.raises(TypeError, match=message):
            descriptor.__delete__(victim)


def test_the_expected_descriptors_exist():
    names = set(_getset_names())
    assert {"run", "parent", "gr_frame", "gr_context", "dead",
            "__dict__"} <= names


@pytest.mark.parametrize("attr", ["dead", "gr_frame"])
def test_read_only_attributes(attr):
    message = exactly("attribute '%s' of 'greenlet.greenlet' objects is not writable" % attr)
    for g in (G(), parked_greenlet(), getcurrent()):
        with pytest.raises(AttributeError, match=message):
            setattr(g, attr, None)
        with pytest.raises(AttributeError, match=message):
            delattr(g, attr)


# ---------------------------------------------------------------------------
# throw() with bad arguments leaves the target alone
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, message", [
    pytest.param((1,), {}, NOT_AN_EXCEPTION % "int", id="int"),
    pytest.param((object,), {}, NOT_AN_EXCEPTION % "type", id="non-exception-class"),
    pytest.param((Strange(),), {}, NOT_AN_EXCEPTION % "Strange", id="non-exception-instance"),
    pytest.param((KeyError(), "value"), {}, SEPARATE_VALUE, id="instance-plus-value"),
    pytest.param((KeyError, None, "tb"), {}, "throw() third argument must be a traceback object",
                 id="bad-traceback"),
    pytest.param((KeyError, None, None, None), {}, "throw() takes at most 3 arguments (4 given)",
                 id="four-args"),
    pytest.param((), {"typ": KeyError}, "throw() takes no keyword arguments", id="keyword"),
])
def test_bad_throw_arguments(args, kwargs, message):
    suspended = parked_greenlet()
    fresh = G(lambda: "fresh")
    for target in (suspended, fresh):
        with pytest.raises(TypeError, match=exactly(message)):
            target.throw(*args, **kwargs)
        assert not target.dead
    assert_still_parked(suspended)
    assert fresh.switch() == "fresh"


def test_suspended_target_is_still_resumable_after_bad_throw():
    g = parked_greenlet()
    with pytest.raises(TypeError, match=exactly(NOT_AN_EXCEPTION % "int")):
        g.throw(12)
    with pytest.raises(TypeError, match=exactly(SEPARATE_VALUE)):
        g.throw(ValueError("x"), "y")
    assert_still_parked(g)


def test_exception_class_that_fails_to_instantiate():
    # The class is instantiated as the exception arrives in the target, so
    # the target sees (and may handle) the failure.
    class Fussy(Exception):
        def __init__(self, *args):
            raise RuntimeError("refusing to be created")

    main = getcurrent()
    seen = []

    def body():
        try:
            main.switch()
        except BaseException as e:
            seen.append(type(e))
            return "handled"

    g = G(body)
    g.switch()
    assert g.throw(Fussy) == "handled"
    assert seen == [RuntimeError]


def test_exception_class_whose_new_returns_something_else():
    class Liar(Exception):
        def __new__(cls, *args):
            return "not an exception"

    g = parked_greenlet()
    with pytest.raises(TypeError, match=exactly(
            "calling %r should have returned an instance of BaseException, not str" % (Liar,))):
        g.throw(Liar)
    assert g.dead


def test_throw_into_dead_greenlet_raises_in_the_parent():
    g = G(lambda: None)
    g.switch()
    with pytest.raises(LookupError, match=r"^$"):
        g.throw(LookupError)
    with pytest.raises(TypeError, match=exactly(NOT_AN_EXCEPTION % "int")):
        g.throw(3)


# ---------------------------------------------------------------------------
# parent / run with bad values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("bogus", NON_GREENLETS + [pytest.param(None, id="None")])
def test_parent_assignment_of_wrong_type(bogus):
    suspended = parked_greenlet()
    for g in (G(), suspended):
        before = g.parent
        with pytest.raises(TypeError) as info:
            g.parent = bogus
        assert str(info.value) == checker_message(bogus)
        assert g.parent is before
    assert_still_parked(suspended)


def test_reinit_with_bad_parent_keeps_the_parent():
    other = G()
    g = G(len, other)
    with pytest.raises(TypeError, match=exactly(checker_message(5))):
        g.__init__(lambda: "replaced", 5)
    assert g.parent is other
    assert not g and not g.dead


def test_run_cannot_be_replaced_once_started_even_through_init():
    g = parked_greenlet()
    with pytest.raises(AttributeError) as info:
        g.__init__(run=len)
    assert str(info.value) == "run cannot be set after the start of the greenlet"
    with pytest.raises(AttributeError,
                       match=exactly("run cannot be set after the start of the greenlet")):
        g.run = len
    assert_still_parked(g)


def test_main_greenlet_has_no_settable_run():
    main = getcurrent()
    with pytest.raises(AttributeError) as info:
        main.run = len
    assert str(info.value) == "Main greenlets do not have a run attribute."
    with pytest.raises(AttributeError,
                       match=exactly("Main greenlets do not have a run attribute.")):
        main.run


def test_run_lookup_that_raises():
    class Grumpy(G):
        @property
        def run(self):
            raise LookupError("no run today")

    g = Grumpy()
    for _ in range(2):
        with pytest.raises(LookupError, match=r"^no run today$"):
            g.switch()
        assert not g and not g.dead  # still never started


def test_run_being_the_greenlets_own_switch():
    g = G()
    g.run = g.switch  # switching to oneself just returns the arguments
    assert g.switch(1, 2) == (1, 2)
    assert g.dead


# ---------------------------------------------------------------------------
# Subclasses that skip greenlet.__init__
# ---------------------------------------------------------------------------

def test_subclass_init_that_skips_base_init():
    class Lazy(G):
        def __init__(self, label):
            self.label = label

        def run(self, x):
            return (self.label, x, getcurrent() is self)

    g = Lazy("lazy")
    assert g.parent is getcurrent()
    assert g.switch(5) == ("lazy", 5, True)


def test_subclass_without_init_or_run():
    class Bare(G):
        def __init__(self, *args, **kwargs):
            pass

    b = Bare(lambda: "ignored", parent=None)
    with pytest.raises(AttributeError, match=r"^run$"):
        b.run
    with pytest.raises(AttributeError, match=r"^run$"):
        b.switch()
    assert not b.dead
    # It can be fixed up afterwards.
    b.run = lambda: "late"
    assert b.switch() == "late"


def test_subclass_whose_init_raises():
    half_built = []

    class Broken(G):
        def __init__(self):
            half_built.append(weakref.ref(self))
            raise ValueError("nope")

    mains_before = greenlet._greenlet.get_total_main_greenlets()
    with pytest.raises(ValueError, match=r"^nope$"):
        Broken()
    gc.collect()
    # The object that never finished initialising is freed like any other,
    # and creating it made no main greenlet appear (or vanish).
    [ref] = half_built
    assert ref() is None
    assert greenlet._greenlet.get_total_main_greenlets() == mains_before


def test_half_initialised_subclass_as_parent():
    class Bare(G):
        def __init__(self):
            pass

    orphan_parent = Bare()  # no run
    child = G(lambda: "child result", orphan_parent)
    # When the child finishes its result goes to the parent, which cannot
    # start; the failure surfaces here instead of crashing.
    with pytest.raises(AttributeError, match=r"^run$"):
        child.switch()
    assert child.dead


# ---------------------------------------------------------------------------
# Module functions
# ---------------------------------------------------------------------------

def test_module_functions_argument_checking():
    no_arguments = "greenlet._greenlet.%s() takes no arguments (1 given)"
    with pytest.raises(TypeError, match=exactly(no_arguments % "getcurrent")):
        greenlet.getcurrent(None)
    with pytest.raises(TypeError, match=exactly(no_arguments % "gettrace")):
        greenlet.gettrace(None)
    with pytest.raises(TypeError, match=exactly("function takes exactly 1 argument (0 given)")):
        greenlet.settrace()
    assert greenlet.gettrace() is None


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: greenlet.settrace(),
                 "function takes exactly 1 argument (0 given)",
                 id="settrace-no-args"),
    pytest.param(lambda: greenlet.settrace(None, None),
                 "function takes exactly 1 argument (2 given)",
                 id="settrace-two-args"),
    pytest.param(lambda: greenlet.settrace(callback=None),
                 "settrace() takes no keyword arguments",
                 id="settrace-keyword"),
    pytest.param(lambda: G(lambda: None).throw(KeyError, None, None, None),
                 "throw() takes at most 3 arguments (4 given)",
                 id="throw-four-args"),
])
def test_argument_count_messages(call, message):
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == message
    assert greenlet.gettrace() is None


def test_switch_argument_shapes_pass_through():
    g = G(lambda *a, **k: (a, k))
    assert g.switch(**{"not an identifier": 1}) == ((), {"not an identifier": 1})
    many = tuple(range(5000))
    assert G(lambda *a: a).switch(*many) == many


# ---------------------------------------------------------------------------
# Dead greenlets
# ---------------------------------------------------------------------------

def test_switching_to_dead_greenlets_repeatedly():
    g = G(lambda: "only once")
    assert g.switch() == "only once"
    for i in range(5):
        assert g.switch(i) == i
    assert g.switch() == ()
    assert g.switch(a=1) == {"a": 1}
    assert g.switch(1, a=2) == ((1,), {"a": 2})


def test_dead_greenlet_with_dead_parent_chain():
    main = getcurrent()
    holder = []

    def outer():
        inner = G(lambda: "inner done")
        inner.switch()
        holder.append(inner)
        return "outer done"

    assert G(outer).switch() == "outer done"
    inner = holder.pop()
    assert inner.dead and inner.parent.dead
    # Both dead: the value travels up to main.
    assert inner.switch("through") == "through"
    assert getcurrent() is main


# ---------------------------------------------------------------------------
# Switching from finalizers and weakref callbacks
# ---------------------------------------------------------------------------

def test_finalizer_run_by_gc_switches_to_another_greenlet():
    main = getcurrent()
    log = []

    def helper_body():
        while True:
            note = main.switch("helper answered")
            log.append(("helper got", note))

    helper = G(helper_body)
    helper.switch()

    class Cyclic(object):
        def __del__(self):
            log.append(("del in", getcurrent() is main))
            log.append(("switch returned", helper.switch("from __del__")))

    a = Cyclic()
    a.me = a
    del a
    gc.collect()
    assert log == [
        ("del in", True),
        ("helper got", "from __del__"),
        ("switch returned", "helper answered"),
    ]
    helper.throw()
    assert helper.dead


def test_finalizer_switching_while_collection_runs_in_a_child():
    main = getcurrent()
    log = []

    class Cyclic(object):
        def __del__(self):
            # Start a brand new greenlet from inside the collector.
            log.append(G(lambda: "spawned in __del__").switch())

    def child():
        c = Cyclic()
        c.me = c
        del c
        gc.collect()
        return "child done"

    assert G(child).switch() == "child done"
    assert log == ["spawned in __del__"]
    assert getcurrent() is main


def test_finalizer_that_kills_a_greenlet_during_gc():
    log = []

    def victim_body():
        try:
            getcurrent().parent.switch()
        finally:
            log.append("victim finally")

    victim = G(victim_body)
    victim.switch()

    class Holder(object):
        def __init__(self, g):
            self.g = g

        def __del__(self):
            log.append("holder del")
            self.g.throw()  # explicitly kill from inside the collector

    h = Holder(victim)
    h.me = h
    del h, victim
    gc.collect()
    # The victim is garbage too, and the collector kills it itself; which of the two
    # finalizers runs first is the collector's choice. Its finally runs exactly once.
    assert sorted(log) == ["holder del", "victim finally"]


def test_weakref_callback_switches_into_a_greenlet():
    main = getcurrent()
    log = []

    def listener_body():
        while True:
            ref_seen = main.switch()
            log.append(("listener saw dead ref", ref_seen() is None))

    listener = G(listener_body)
    listener.switch()

    def on_death(ref):
        log.append(("callback in main", getcurrent() is main))
        listener.switch(ref)
        log.append("callback resumed")

    class Target(object):
        pass

    t = Target()
    ref = weakref.ref(t, on_death)
    del t
    assert log == [
        ("callback in main", True),
        ("listener saw dead ref", True),
        "callback resumed",
    ]
    assert ref() is None
    listener.throw()


def test_weakref_callback_for_a_greenlet_spawns_greenlets():
    log = []

    def on_death(ref):
        log.append(G(lambda: "callback greenlet ran").switch())

    g = G(lambda: None)
    ref = weakref.ref(g, on_death)
    del g
    assert log == ["callback greenlet ran"]
    assert ref() is None


def test_weakref_callback_of_a_killed_greenlet_switches():
    # The callback fires while the dying greenlet is being torn down.
    main = getcurrent()
    log = []

    def body():
        try:
            main.switch()
        finally:
            log.append("finally")

    def on_death(ref):
        log.append(("callback", G(lambda: getcurrent().parent is main).switch()))

    g = G(body)
    g.switch()
    ref = weakref.ref(g, on_death)
    del g
    assert log == ["finally", ("callback", True)]
    assert ref() is None


def test_weakref_callback_run_by_gc_inside_a_greenlet():
    main = getcurrent()
    log = []

    class Node(object):
        pass

    def on_death(ref):
        # Runs in whatever greenlet is collecting; bounce through main.
        log.append(("callback in child", getcurrent() is not main))
        log.append(main.switch("from callback"))

    def child():
        n = Node()
        n.me = n
        keep = weakref.ref(n, on_death)
        del n
        gc.collect()
        return ("child done", keep() is None)

    g = G(child)
    assert g.switch() == "from callback"
    assert g.switch("back to callback") == ("child done", True)
    assert log == [("callback in child", True), "back to callback"]


# ---------------------------------------------------------------------------
# Odds and ends
# ---------------------------------------------------------------------------

def test_class_assignment():
    class A(G):
        pass

    class B(G):
        def run(self):
            return "B.run"

    a = A(lambda: "constructor run")
    a.__class__ = B  # same layout: allowed
    assert type(a) is B
    assert a.switch() == "B.run"

    for g in (G(), getcurrent()):
        with pytest.raises(TypeError, match=exactly(
                "__class__ assignment only supported for mutable types or ModuleType subclasses")):
            g.__class__ = A
        assert type(g) is G

    suspended = A(lambda: getcurrent().parent.switch("parked"))
    assert suspended.switch() == "parked"
    suspended.__class__ = B
    assert isinstance(suspended, B)
    assert suspended.switch("done") == "done"


def test_throw_with_a_traceback_from_another_greenlet():
    def make_tb():
        try:
            raise KeyError("elsewhere")
        except KeyError as e:
            return e.__traceback__

    tb = G(make_tb).switch()
    g = parked_greenlet()
    exc = KeyError("thrown")
    with pytest.raises(KeyError) as info:
        g.throw(KeyError, exc, tb)
    assert info.value is exc
    assert g.dead


def test_child_finishing_into_a_parent_that_cannot_start():
    class NoRun(G):
        @property
        def run(self):
            raise ValueError("parent has no usable run")

    parent = NoRun()
    child = G(lambda: "result", parent)
    with pytest.raises(ValueError, match=r"^parent has no usable run$"):
        child.switch()
    assert child.dead
    assert not parent and not parent.dead
