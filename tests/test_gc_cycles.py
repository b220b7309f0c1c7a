"""Greenlets and the cyclic garbage collector.

Unstarted and finished greenlets are ordinary container objects: reference
cycles through their ``__dict__``, ``parent`` or ``run`` are found and freed.
A *suspended* greenlet is killed with GreenletExit as soon as its reference
count drops to zero, however that happens.

The collector frees suspended greenlets that are garbage on every version: each
is killed by its finalizer, its ``finally`` blocks running before anything is
cleared (upstream does this from 3.15 only, and there without killing). What
the collector can see differs: from 3.15 CPython exports what visiting a
suspended frame needs, as it visits a generator's. Before, a suspended frame's
references are invisible to it and count as coming from outside, so a cycle
that goes through a suspended frame's locals lives until it is broken by hand
or the greenlet is resumed; a cycle through the greenlet object itself (its
``__dict__``, ``run``, ``parent``, arguments) is collected.
"""
import collections
import gc
import sys
import weakref

import pytest

import greenlet
from greenlet import GreenletExit, getcurrent

from _support import assert_still_parked, parked_greenlet


#: The collector sees into suspended greenlets' frames (CPython 3.15+).
COLLECTOR_SEES_SUSPENDED_FRAMES = sys.version_info >= (3, 15)
collector_sees_frames = pytest.mark.skipif(
    not COLLECTOR_SEES_SUSPENDED_FRAMES, reason="before 3.15 the collector cannot see suspended frames")
frames_hidden_from_collector = pytest.mark.skipif(
    COLLECTOR_SEES_SUSPENDED_FRAMES, reason="from 3.15 the collector sees suspended frames")


def full_collect():
    for _ in range(3):
        gc.collect()


class Marker(object):
    """Something with a finalizer, so we can see when a cycle is freed."""

    def __init__(self, log, name):
        self.log = log
        self.name = name

    def __del__(self):
        self.log.append(self.name)


def park():
    """Body for a greenlet that suspends itself immediately."""
    getcurrent().parent.switch()


# Upstream greenlet 3.5.6, as observed: before CPython 3.15 its collector never frees a
# suspended greenlet; on 3.15 it frees one that is part of garbage without killing it.
UPSTREAM_LEAVES_SUSPENDED = (
    "before CPython 3.15 upstream's collector never frees a suspended greenlet that is "
    "garbage: it stays alive, suspended, until the cycle is broken by hand")
UPSTREAM_315_FREES_WITHOUT_KILLING = (
    "on CPython 3.15 upstream's collector frees a suspended greenlet that is garbage "
    "without killing it: no GreenletExit is thrown into it and its finally blocks never run")


# ---------------------------------------------------------------------------
# Cycles the collector can break
# ---------------------------------------------------------------------------

def test_pending_greenlet_referencing_itself_through_dict():
    freed = []
    g = greenlet.greenlet(park)
    g.myself = g
    g.marker = Marker(freed, "dict-cycle")
    ref = weakref.ref(g)
    del g
    assert ref() is not None  # a cycle keeps it alive...
    full_collect()
    assert ref() is None  # ...until the collector runs
    assert freed == ["dict-cycle"]


def test_finished_greenlet_in_a_dict_cycle():
    freed = []

    def body():
        return "done"

    g = greenlet.greenlet(body)
    assert g.switch() == "done"
    assert g.dead
    holder = {"g": g, "marker": Marker(freed, "finished")}
    g.holder = holder
    ref = weakref.ref(g)
    del g, holder
    full_collect()
    assert ref() is None
    assert freed == ["finished"]


def test_cycle_through_parent_and_child_attributes():
    freed = []
    parent = greenlet.greenlet(park)
    child = greenlet.greenlet(park, parent)
    parent.kids = [child]
    child.marker = Marker(freed, "family")
    refs = [weakref.ref(parent), weakref.ref(child)]
    del parent, child
    full_collect()
    assert [r() for r in refs] == [None, None]
    assert freed == ["family"]


def test_cycle_through_bound_run_method():
    freed = []

    class Job(object):
        def __init__(self):
            self.glet = greenlet.greenlet(self.work)
            self.marker = Marker(freed, "job")

        def work(self):
            return "worked"

    job = Job()
    gref = weakref.ref(job.glet)
    del job
    full_collect()
    assert gref() is None
    assert freed == ["job"]


def test_cycle_through_run_closure():
    freed = []
    box = []

    def make():
        g = greenlet.greenlet(lambda: g)  # the closure refers to g itself
        box.append(weakref.ref(g))
        g.marker = Marker(freed, "closure")

    make()
    full_collect()
    assert box[0]() is None
    assert freed == ["closure"]


def test_finished_greenlet_whose_frame_made_a_cycle():
    freed = []

    def body():
        me = getcurrent()
        me.self_ref = me
        me.marker = Marker(freed, "self-ref")
        return "bye"

    g = greenlet.greenlet(body)
    ref = weakref.ref(g)
    assert g.switch() == "bye"
    del g
    full_collect()
    assert ref() is None
    assert freed == ["self-ref"]


def test_cycles_created_inside_a_running_greenlet_are_collected_there():
    freed = []

    def body():
        a = Marker(freed, "a")
        b = Marker(freed, "b")
        a.other, b.other = b, a
        del a, b
        gc.collect()
        return sorted(freed)

    assert greenlet.greenlet(body).switch() == ["a", "b"]


# ---------------------------------------------------------------------------
# Suspended greenlets: killed by the collector, and when unreferenced
# ---------------------------------------------------------------------------

@pytest.mark.beyond_upstream(UPSTREAM_LEAVES_SUSPENDED, before=(3, 15))
@pytest.mark.beyond_upstream(UPSTREAM_315_FREES_WITHOUT_KILLING, since=(3, 15))
def test_suspended_greenlet_in_a_cycle():
    log = []

    def body():
        try:
            getcurrent().parent.switch("parked")
        except GreenletExit:
            log.append("killed")
            raise
        finally:
            log.append("finally")

    g = greenlet.greenlet(body)
    assert g.switch() == "parked"
    g.myself = g
    ref = weakref.ref(g)
    del g
    full_collect()
    # The collector kills it, then frees it.
    assert log == ["killed", "finally"]
    assert ref() is None


@pytest.mark.beyond_upstream(UPSTREAM_LEAVES_SUSPENDED, before=(3, 15))
def test_every_greenlet_is_tracked_in_every_state():
    main = getcurrent()
    pending = greenlet.greenlet(park)
    suspended = parked_greenlet()
    suspended.data = [suspended]
    finished = greenlet.greenlet(lambda: None)
    finished.switch()
    for g in (main, pending, suspended, finished):
        assert gc.is_tracked(g)
    assert main in gc.get_referents(pending)
    assert suspended.__dict__ in gc.get_referents(suspended)
    assert_still_parked(suspended)
    assert gc.is_tracked(suspended)
    del suspended.data


@frames_hidden_from_collector
def test_suspended_frame_referring_to_its_own_greenlet_stays_alive():
    log = []

    def body():
        me = getcurrent()  # the suspended frame keeps us alive
        try:
            getcurrent().parent.switch()
        finally:
            log.append(me is getcurrent())

    g = greenlet.greenlet(body)
    g.switch()
    ref = weakref.ref(g)
    del g
    full_collect()
    assert ref() is not None
    assert log == []
    # Resume it explicitly so it can finish; then it goes away.
    ref().switch()
    assert log == [True]
    full_collect()
    assert ref() is None


@collector_sees_frames
def test_every_greenlet_is_tracked_and_suspended_frames_are_referents():
    main = getcurrent()
    marker = Marker([], "held by a suspended frame")

    def body(held):
        getcurrent().parent.switch()

    suspended = greenlet.greenlet(body)
    suspended.switch(marker)
    assert gc.is_tracked(suspended)
    assert gc.is_tracked(main)
    # What the suspended frames hold is visible to the collector.
    referents = gc.get_referents(suspended)
    assert any(marker in gc.get_referents(r) for r in referents if r is not None) or marker in referents
    suspended.switch()
    assert suspended.dead


@collector_sees_frames
@pytest.mark.beyond_upstream(
    "on CPython 3.15 upstream's collector clears a suspended greenlet that is garbage "
    "without killing it: the frame's locals are freed first, its finally block never "
    "runs, and the greenlet is left alive, suspended", since=(3, 15))
def test_cycle_through_a_suspended_frame_is_freed_with_its_finally_run():
    """The cycle goes through the frame's locals back to the greenlet. The collector calls
    every finalizer in the garbage in an order of its own (the marker's ``__del__`` among
    them), but clears nothing the greenlet's ``finally`` block can still see."""
    log = []

    def body():
        me = getcurrent()  # the suspended frame refers to its own greenlet
        holder = Marker(log, "marker finalized")
        holder.owner = me
        try:
            getcurrent().parent.switch()
        finally:
            log.append(("finally", holder.name, holder.owner is me))

    g = greenlet.greenlet(body)
    g.switch()
    ref = weakref.ref(g)
    del g
    assert log == []
    full_collect()
    assert sorted(log, key=str) == [("finally", "marker finalized", True), "marker finalized"]
    assert ref() is None


@pytest.mark.beyond_upstream(UPSTREAM_LEAVES_SUSPENDED, before=(3, 15))
@pytest.mark.beyond_upstream(
    "on CPython 3.15 upstream's collector frees a suspended greenlet of another thread "
    "that is garbage right there, without killing it: its finally block never runs, in "
    "its own thread or anywhere", since=(3, 15))
def test_collector_kill_of_a_greenlet_of_another_thread_is_queued_there():
    """Only a greenlet's own thread can run it: the kill waits for that thread."""
    import threading

    log = []
    ready = threading.Event()
    go = threading.Event()
    done = threading.Event()

    def body():
        try:
            getcurrent().parent.switch()
        finally:
            log.append(("finally", threading.current_thread().name))

    def thread_main():
        g = greenlet.greenlet(body)
        g.switch()
        g.me = g
        del g
        ready.set()
        go.wait(10)
        getcurrent()  # a greenlet call runs the kills queued for this thread
        done.set()

    t = threading.Thread(target=thread_main, name="owner")
    t.start()
    ready.wait(10)
    full_collect()  # here, in the main thread: the greenlet cannot run here
    assert log == []
    go.set()
    done.wait(10)
    t.join(10)
    assert log == [("finally", "owner")]


@pytest.mark.beyond_upstream(UPSTREAM_LEAVES_SUSPENDED, before=(3, 15))
@pytest.mark.beyond_upstream(UPSTREAM_315_FREES_WITHOUT_KILLING, since=(3, 15))
def test_kills_wait_for_the_collection_to_end():
    """A suspended greenlet in garbage is not killed inside the collection: switching there
    would lay its frames over the collector's own, whose lists its code may then change.
    Its kill runs when the collection reports that it is over, after every finalizer (the
    marker's ``__del__``) and before the callbacks added after greenlet's import."""
    log = []

    def body():
        try:
            getcurrent().parent.switch()
        finally:
            log.append("greenlet finally")

    g = greenlet.greenlet(body)  # older than the marker: the collector meets it first
    g.switch()
    g.me = g
    marker = Marker(log, "marker finalized")
    marker.me = marker
    del g, marker

    def callback(phase, info):
        log.append(phase)

    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert log == ["start", "marker finalized", "greenlet finally", "stop"]


def test_a_subclass_instance_is_killed_as_its_last_reference_goes():
    log = []

    class Mine(greenlet.greenlet):
        pass

    def body():
        try:
            getcurrent().parent.switch()
        finally:
            log.append("finally")

    g = Mine(body)
    g.switch()
    del g
    assert log == ["finally"]


def test_suspended_greenlet_held_only_by_garbage_is_killed_when_collected():
    log = []

    def body(tag):
        try:
            getcurrent().parent.switch()
        except GreenletExit as e:
            log.append((tag, type(e).__name__))
        finally:
            log.append((tag, "finally"))

    # The greenlets are referenced only from a self-referencing list; when
    # the collector frees the list, their refcounts drop to zero.
    trash = []
    trash.append(trash)
    for tag in "xyz":
        g = greenlet.greenlet(body)
        g.switch(tag)
        trash.append(g)
    del g, trash
    assert log == []
    full_collect()
    assert sorted(log) == sorted(
        [(t, "GreenletExit") for t in "xyz"] + [(t, "finally") for t in "xyz"])


def test_kill_on_collection_happens_in_the_greenlet_itself():
    seen = []

    def body():
        # By identity, not by weak reference: where the collector itself ends suspended
        # greenlets, it clears weak references to its garbage before any finalizer runs.
        me = id(getcurrent())
        try:
            getcurrent().parent.switch()
        finally:
            seen.append(id(getcurrent()) == me)
            seen.append(getcurrent().parent is main)

    main = getcurrent()
    holder = {}
    holder["self"] = holder
    holder["g"] = greenlet.greenlet(body)
    holder["g"].switch()
    del holder
    full_collect()
    assert seen == [True, True]


# ---------------------------------------------------------------------------
# Resurrection
# ---------------------------------------------------------------------------

def test_greenlet_that_saves_itself_while_dying_stays_usable():
    main = getcurrent()
    saved = []
    log = []

    def body():
        try:
            main.switch("parked")
        except GreenletExit:
            saved.append(getcurrent())  # resurrect
            log.append("caught")
            value = main.switch("ignored by the killer")
            log.append(("resumed with", value))
        return "finished normally"

    g = greenlet.greenlet(body)
    g.label = "phoenix"
    assert g.switch() == "parked"
    ref = weakref.ref(g)
    del g
    assert log == ["caught"]
    assert ref() is not None
    back = saved.pop()
    assert back is ref()
    assert back.label == "phoenix"
    assert not back.dead
    assert back.parent is main
    # It is an ordinary suspended greenlet again.
    assert back.switch("hello again") == "finished normally"
    assert log == ["caught", ("resumed with", "hello again")]
    assert back.dead
    del back
    full_collect()
    assert ref() is None


def test_greenlet_saved_from_finally_is_dead_but_intact():
    main = getcurrent()
    saved = []

    def body():
        try:
            main.switch()
        finally:
            saved.append(getcurrent())

    g = greenlet.greenlet(body)
    g.switch()
    g.payload = [1, 2, 3]
    del g
    assert len(saved) == 1
    g = saved.pop()
    assert g.dead
    assert g.payload == [1, 2, 3]
    assert g.gr_frame is None
    # Switching to a dead greenlet just hands the arguments to its parent.
    assert g.switch("x") == "x"


def test_resurrected_greenlet_can_be_killed_again():
    main = getcurrent()
    saved = []
    kills = []

    def body():
        while True:
            try:
                main.switch()
            except GreenletExit:
                kills.append(len(kills))
                if len(kills) < 3:
                    saved.append(getcurrent())
                    continue
                raise

    g = greenlet.greenlet(body)
    g.switch()
    del g
    for _ in range(2):
        assert saved
        g = saved.pop()
        assert not g.dead
        del g
    assert kills == [0, 1, 2]
    assert saved == []


# ---------------------------------------------------------------------------
# Leaks and deep structures
# ---------------------------------------------------------------------------

def _type_counts():
    full_collect()
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def test_no_object_growth_over_many_rounds():
    main = getcurrent()

    class Payload(object):
        pass

    def worker(n):
        local = [Payload() for _ in range(3)]
        try:
            while True:
                n = main.switch(n + len(local))
        except GreenletExit:
            return None

    def one_round():
        glets = [greenlet.greenlet(worker) for _ in range(20)]
        for i, g in enumerate(glets):
            assert g.switch(i) == i + 3
        for g in glets[:10]:
            assert g.switch(1) == 4
        for g in glets[10:15]:
            g.throw()  # explicit kill
        for g in glets[15:]:
            g.parent = greenlet.greenlet(park)  # never started
        del glets  # the rest die by refcount

    one_round()  # warm up caches
    before = _type_counts()
    for _ in range(50):
        one_round()
    after = _type_counts()
    interesting = ["greenlet", "Payload", "frame", "list", "dict", "tuple",
                   "cell", "function", "GreenletExit"]
    growth = {k: after[k] - before[k] for k in interesting
              if after[k] - before[k] > 2}
    assert growth == {}


def _link_by_list(head, g):
    return [head, g]


def _link_by_attribute(head, g):
    g.next = head
    return g


@pytest.mark.parametrize("link, depth", [
    pytest.param(_link_by_list, 3000, id="nested-lists"),
    pytest.param(_link_by_attribute, 2000, id="greenlet-attributes"),
])
def test_deep_chain_of_suspended_greenlets(link, depth):
    """Every suspended greenlet of a deep structure is killed when it is freed."""
    log = []

    def body(i):
        try:
            getcurrent().parent.switch()
        finally:
            log.append(i)

    head = None
    for i in range(depth):
        g = greenlet.greenlet(body)
        g.switch(i)
        head = link(head, g)
    del g
    # Freeing the head sets off thousands of nested deallocations (CPython's
    # trashcan defers those of the lists), and each one kills a greenlet.
    del head
    assert sorted(log) == list(range(depth))


def test_deep_chain_through_greenlet_attributes():
    depth = 50000
    head = None
    for _ in range(depth):
        g = greenlet.greenlet(park)
        g.next = head
        head = g
    del g
    ref = weakref.ref(head)
    del head  # must not blow the C stack
    assert ref() is None


def test_switching_during_trashcan_deallocation():
    # A finalizer deep inside a trashcan-deferred deallocation switches to
    # another greenlet, which frees a deep structure of its own, and then
    # switches back.
    main = getcurrent()
    events = []

    def other_side():
        junk = None
        for _ in range(2000):
            junk = (junk, object())
        del junk
        events.append("other freed")
        main.switch("back")

    helper = greenlet.greenlet(other_side)

    class Switcher(object):
        def __init__(self, fire):
            self.fire = fire

        def __del__(self):
            if self.fire:
                events.append("switching")
                assert helper.switch() == "back"

    chain = None
    for i in range(2000):
        chain = (chain, Switcher(i == 1000))
    del chain
    assert events == ["switching", "other freed"]
    # The helper is suspended in main.switch; let it finish.
    helper.switch()
    assert helper.dead


def test_finalizer_pauses_a_collection_running_in_a_child():
    # A finalizer invoked by a collection in a child greenlet switches to
    # main in the middle of the collection.  Main can carry on (and even ask
    # for another collection) before letting the child finish.
    main = getcurrent()
    log = []

    class Pauser(object):
        def __init__(self, name):
            self.name = name
            self.me = self

        def __del__(self):
            log.append(("del", self.name))
            if self.name == "pauser":
                log.append(("resumed with", main.switch("paused")))

    def child():
        Pauser("pauser")
        gc.collect()
        return "collection finished"

    g = greenlet.greenlet(child)
    assert g.switch() == "paused"
    assert log == [("del", "pauser")]
    gc.collect()  # must not crash or re-enter the paused finalizer
    assert g.switch("carry on") == "collection finished"
    assert log[:2] == [("del", "pauser"), ("resumed with", "carry on")]
    full_collect()


def test_greenlet_abandoned_while_paused_inside_a_collection(monkeypatch):
    main = getcurrent()
    unraisable = []
    monkeypatch.setattr("sys.unraisablehook",
                        lambda info: unraisable.append(type(info.exc_value)))
    log = []

    class Pauser(object):
        def __init__(self):
            self.me = self

        def __del__(self):
            log.append("del")
            main.switch("paused")
            log.append("never resumed normally")

    def child():
        Pauser()
        gc.collect()

    g = greenlet.greenlet(child)
    assert g.switch() == "paused"
    del g  # GreenletExit is raised inside the finalizer
    assert log == ["del"]
    assert unraisable == [GreenletExit]
    full_collect()


# ---------------------------------------------------------------------------
# Reference counts of objects passed through greenlet operations
# ---------------------------------------------------------------------------

class _Token(object):
    pass


def _op_switch_args(o):
    greenlet.greenlet(lambda *a, **k: a).switch(o, key=o)


def _op_return_value(o):
    greenlet.greenlet(lambda: o).switch()


def _op_switch_back_and_forth(o):
    main = getcurrent()
    g = greenlet.greenlet(lambda: main.switch(o))
    g.switch()
    g.switch(o)


def _op_throw_type_and_value(o):
    main = getcurrent()
    g = greenlet.greenlet(lambda: main.switch())
    g.switch()
    try:
        g.throw(KeyError, o)
    except KeyError:
        pass


def _op_throw_greenlet_exit(o):
    main = getcurrent()
    g = greenlet.greenlet(lambda: main.switch())
    g.switch()
    g.throw(GreenletExit(o))


def _op_error_from_child(o):
    def fail():
        raise LookupError(o)

    try:
        greenlet.greenlet(fail).switch()
    except LookupError:
        pass


def _op_kill_holding_arg(o):
    main = getcurrent()
    g = greenlet.greenlet(lambda x: main.switch())
    g.switch(o)
    del g


def _op_switch_to_dead(o):
    g = greenlet.greenlet(lambda: None)
    g.switch()
    g.switch(o)


def _op_run_and_dict(o):
    g = greenlet.greenlet()
    g.run = o
    g.attr = o
    g.run = None


def _op_tracer(o):
    old = greenlet.settrace(lambda event, args, o=o: None)
    greenlet.greenlet(lambda: None).switch()
    greenlet.settrace(old)


def _op_frame_access(o):
    main = getcurrent()
    g = greenlet.greenlet(lambda x: main.switch())
    g.switch(o)
    assert g.gr_frame.f_locals["x"] is o
    g.throw()


@pytest.mark.parametrize("op", [
    _op_switch_args, _op_return_value, _op_switch_back_and_forth,
    _op_throw_type_and_value, _op_throw_greenlet_exit, _op_error_from_child,
    _op_kill_holding_arg, _op_switch_to_dead, _op_run_and_dict, _op_tracer,
    _op_frame_access,
], ids=lambda f: f.__name__[4:])
def test_objects_passed_through_are_not_leaked(op):
    import sys

    token = _Token()
    for _ in range(20):
        op(token)
    full_collect()
    before = sys.getrefcount(token)
    for _ in range(500):
        op(token)
    full_collect()
    assert sys.getrefcount(token) == before
