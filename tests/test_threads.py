"""Greenlets and OS threads.

Every thread gets its own main greenlet the first time it touches the
greenlet API; greenlets never migrate between threads, and everything a
thread leaves behind has to be cleaned up once the thread is gone.
"""
import gc
import re
import sys
import sysconfig
import threading
import time
import weakref

import pytest

import greenlet
from greenlet import getcurrent
from greenlet._greenlet import get_pending_cleanup_count
from greenlet._greenlet import get_total_main_greenlets

from _support import run_python

DEAD_THREAD_MESSAGE = (
    "cannot switch to a different thread (which happens to have exited)"
)
LIVE_THREAD_PREFIX = "Cannot switch to a different thread"
TIMEOUT = 10.0


def wait_until(predicate, timeout=TIMEOUT):
    """Poll *predicate* (collecting garbage and giving the greenlet module a
    chance to run its deferred cleanups) until it is true or time runs out.
    Returns the final value of the predicate."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        getcurrent()  # processes this thread's pending deletions
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def settled(expected_mains):
    return (get_pending_cleanup_count() == 0
            and get_total_main_greenlets() == expected_mains)


@pytest.fixture
def baseline():
    """Number of main greenlets alive before the test (the calling thread's
    included), after letting earlier tests' threads finish dying."""
    getcurrent()
    wait_until(lambda: get_pending_cleanup_count() == 0)
    # Other tests may have left a main greenlet or two alive for a little
    # while; wait for the count to stop shrinking.
    prev = -1
    deadline = time.monotonic() + TIMEOUT
    while get_total_main_greenlets() != prev and time.monotonic() < deadline:
        prev = get_total_main_greenlets()
        wait_until(lambda: get_pending_cleanup_count() == 0, 1)
        time.sleep(0.02)
        gc.collect()
    return get_total_main_greenlets()


class Worker(object):
    """A thread that runs *setup* and then parks until released.

    While it is parked the test can poke at whatever *setup* stored; the
    thread is always released and joined by ``finish``."""

    def __init__(self, setup):
        self.setup = setup
        self.ready = threading.Event()
        self.release = threading.Event()
        self.after_release = None
        self.error = None
        self.thread = threading.Thread(target=self._run, name="greenlet-worker")

    def _run(self):
        try:
            self.setup()
        except BaseException as e:  # pragma: no cover - reported by finish()
            self.error = e
        finally:
            self.ready.set()
        self.release.wait(TIMEOUT)
        if self.after_release is not None:
            try:
                self.after_release()
            except BaseException as e:  # pragma: no cover
                self.error = e

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(TIMEOUT)
        if self.error is not None:
            raise self.error
        return self

    def finish(self):
        self.release.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error

    def __exit__(self, *exc):
        self.finish()


def run_in_thread(func):
    """Run *func* to completion in a fresh thread and return its result."""
    result = {}

    def target():
        try:
            result["value"] = func()
        except BaseException as e:  # pragma: no cover
            result["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive()
    if "error" in result:
        raise result["error"]
    return result["value"]


# ---------------------------------------------------------------------------
# One main greenlet per thread, created on demand
# ---------------------------------------------------------------------------

def test_new_thread_gets_its_own_main_greenlet(baseline):
    here = getcurrent()

    def probe():
        before = get_total_main_greenlets()
        me = getcurrent()
        after = get_total_main_greenlets()
        again = getcurrent()
        return {
            "created": after - before,
            "same": me is again,
            "parent": me.parent,
            "repr": repr(me),
            "mine": me,
        }

    info = run_in_thread(probe)
    assert info["created"] == 1
    assert info["same"]
    assert info["parent"] is None
    assert info["repr"].endswith(" current active started main>")
    assert info["mine"] is not here
    del info
    assert wait_until(lambda: settled(baseline))


def test_thread_that_never_uses_greenlet_creates_no_main(baseline):
    seen = run_in_thread(get_total_main_greenlets)
    assert seen == baseline


def test_greenlets_created_in_a_thread_belong_to_its_main(baseline):
    def probe():
        main = getcurrent()
        child = greenlet.greenlet(lambda: getcurrent().parent)
        parent_seen_inside = child.switch()
        return main, child.parent, parent_seen_inside, child.dead

    main, parent, inside, dead = run_in_thread(probe)
    assert parent is main
    assert inside is main
    assert dead
    assert main is not getcurrent()
    del main, parent, inside
    assert wait_until(lambda: settled(baseline))


def test_several_threads_have_distinct_mains(baseline):
    mains = []
    lock = threading.Lock()
    barrier = threading.Barrier(4, timeout=TIMEOUT)

    def body():
        m = getcurrent()
        # Make sure the threads overlap so no main greenlet could be reused.
        barrier.wait()
        with lock:
            mains.append(m)

    threads = [threading.Thread(target=body) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert len(set(map(id, mains))) == 4
    assert getcurrent() not in mains
    del mains[:]
    assert wait_until(lambda: settled(baseline))


def test_greenlets_in_parallel_threads_switch_independently(baseline):
    results = {}

    def body(tag):
        def gen():
            for i in range(3):
                getcurrent().parent.switch((tag, i))
            return (tag, "done")

        g = greenlet.greenlet(gen)
        out = []
        while not g.dead:
            out.append(g.switch())
            time.sleep(0)  # let the other thread interleave
        results[tag] = out

    threads = [threading.Thread(target=body, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    for tag in "ab":
        assert results[tag] == [(tag, 0), (tag, 1), (tag, 2), (tag, "done")]
    assert wait_until(lambda: settled(baseline))


# ---------------------------------------------------------------------------
# Crossing threads is refused
# ---------------------------------------------------------------------------

def _parked_setup(box):
    def setup():
        box["main"] = getcurrent()
        box["suspended"] = greenlet.greenlet(
            lambda: getcurrent().parent.switch("parked"))
        assert box["suspended"].switch() == "parked"
        box["pending"] = greenlet.greenlet(lambda: "never")
    return setup


def parked_worker(box):
    """A Worker whose thread owns a main, a suspended and a pending greenlet
    (published in *box*).  When released, the thread itself drops them, so
    the suspended one is killed at home and nothing is left behind; the test
    must not hold references of its own past the ``with`` block."""
    worker = Worker(_parked_setup(box))
    worker.after_release = box.clear
    return worker


@pytest.mark.parametrize("which", ["main", "suspended", "pending"])
def test_switching_into_a_live_threads_greenlet(baseline, which):
    box = {}
    with parked_worker(box):
        target = box[which]
        with pytest.raises(greenlet.error) as info:
            target.switch("hello")
        text = str(info.value)
        assert text.startswith(LIVE_THREAD_PREFIX)
        assert "Current:" in text and "Expected:" in text
        # The message names our main greenlet and theirs.
        assert repr(getcurrent()) in text
        # The target was not disturbed.
        assert not box["suspended"].dead
        del target
    assert wait_until(lambda: settled(baseline))


@pytest.mark.parametrize("which", ["main", "suspended", "pending"])
def test_throwing_into_a_live_threads_greenlet(baseline, which):
    box = {}
    with parked_worker(box):
        with pytest.raises(greenlet.error) as info:
            box[which].throw(KeyError("nope"))
        assert str(info.value).startswith(LIVE_THREAD_PREFIX)
        with pytest.raises(greenlet.error, match="^" + re.escape(LIVE_THREAD_PREFIX)):
            box[which].throw()
    assert wait_until(lambda: settled(baseline))


def test_started_greenlet_cannot_adopt_parent_from_another_thread(baseline):
    box = {}

    def local():
        getcurrent().parent.switch()

    mine = greenlet.greenlet(local)
    mine.switch()
    old_parent = mine.parent
    with parked_worker(box):
        for which in ("main", "suspended", "pending"):
            with pytest.raises(ValueError) as info:
                mine.parent = box[which]
            assert str(info.value) == "parent cannot be on a different thread"
            assert mine.parent is old_parent
    mine.throw()  # finish it
    assert mine.dead
    assert wait_until(lambda: settled(baseline))


def test_unstarted_greenlet_with_foreign_parent_cannot_be_started(baseline):
    # Re-parenting is only checked against the thread once the greenlet has
    # started; a pending greenlet may be pointed at another thread's
    # greenlet, but then it can never be switched to from here.
    box = {}
    ran = []
    with parked_worker(box):
        g = greenlet.greenlet(lambda: ran.append(1))
        g.parent = box["main"]
        assert g.parent is box["main"]
        with pytest.raises(greenlet.error) as info:
            g.switch()
        assert str(info.value).startswith(LIVE_THREAD_PREFIX)
        h = greenlet.greenlet(lambda: ran.append(2), box["suspended"])
        with pytest.raises(greenlet.error, match="^" + re.escape(LIVE_THREAD_PREFIX)):
            h.switch()
        del g, h
    assert ran == []
    assert wait_until(lambda: settled(baseline))


def test_other_threads_greenlets_report_their_state(baseline):
    box = {}
    with parked_worker(box):
        # From here, the other thread's main greenlet is merely suspended.
        assert repr(box["main"]).endswith(" suspended active started main>")
        assert repr(box["suspended"]).endswith(" suspended active started>")
        assert repr(box["pending"]).endswith(" pending>")
        assert not box["main"].dead
        assert box["suspended"]
        assert box["suspended"].parent is box["main"]
        frame = box["suspended"].gr_frame
        if sysconfig.get_config_var("Py_GIL_DISABLED"):
            # Without the GIL its thread could resume it while its frames are read.
            assert frame is None
        else:
            assert frame is not None and frame.f_code.co_name
        del frame
    assert wait_until(lambda: settled(baseline))


# ---------------------------------------------------------------------------
# After the thread is gone
# ---------------------------------------------------------------------------

@pytest.mark.leaves_greenlets(
    "before 3.15 the frames of a greenlet left suspended in an exited thread keep what they "
    "hold, as upstream keeps it: here the thread's main greenlet", when=sys.version_info < (3, 15))
def test_greenlets_of_an_exited_thread(baseline):
    box = {}
    worker = Worker(_parked_setup(box))
    with worker:
        pass
    main = box["main"]
    assert wait_until(lambda: get_pending_cleanup_count() == 0 and main.dead)

    for which in ("main", "suspended"):
        g = box[which]
        assert g.dead
        assert "(thread exited)" in repr(g), repr(g)
        assert repr(g).endswith(" (thread exited) dead>")
        with pytest.raises(greenlet.error) as info:
            g.switch()
        assert str(info.value) == DEAD_THREAD_MESSAGE
        with pytest.raises(greenlet.error) as info:
            g.throw(ValueError)
        assert str(info.value) == DEAD_THREAD_MESSAGE

    # A greenlet that never started in that thread cannot be started now.
    with pytest.raises(greenlet.error) as info:
        box["pending"].switch()
    assert str(info.value) == DEAD_THREAD_MESSAGE

    # Our own greenlets are unaffected.
    assert greenlet.greenlet(lambda: 42).switch() == 42
    del g, main
    box.clear()


def test_finally_runs_in_the_thread_for_greenlets_left_in_its_frame(baseline):
    log = []

    def parked(i):
        try:
            getcurrent().parent.switch()
        finally:
            log.append((i, threading.get_ident()))

    def body():
        glets = [greenlet.greenlet(parked) for _ in range(5)]
        for i, g in enumerate(glets):
            g.switch(i)
        return threading.get_ident()
        # glets go out of scope as the function returns

    ident = run_in_thread(body)
    assert sorted(i for i, _ in log) == [0, 1, 2, 3, 4]
    assert {t for _, t in log} == {ident}
    assert wait_until(lambda: settled(baseline))


def test_greenlets_parked_in_thread_local_storage_are_killed_at_exit(baseline):
    local = threading.local()
    log = []

    def parked(i):
        try:
            getcurrent().parent.switch()
        except greenlet.GreenletExit:
            log.append(("exit", i))
            raise
        finally:
            log.append(("finally", i))

    def body():
        local.glets = [greenlet.greenlet(parked) for _ in range(4)]
        for i, g in enumerate(local.glets):
            g.switch(i)

    def greenlet_count():
        return sum(1 for o in gc.get_objects()
                   if isinstance(o, greenlet.greenlet))

    gc.collect()
    before = greenlet_count()
    run_in_thread(body)
    assert wait_until(lambda: settled(baseline))
    assert sorted(log) == sorted(
        [("exit", i) for i in range(4)] + [("finally", i) for i in range(4)])
    assert greenlet_count() == before


@pytest.mark.leaves_greenlets(
    "before 3.15 the frames of a greenlet left suspended in an exited thread keep what they "
    "hold, as upstream keeps it: here the thread's main greenlet", when=sys.version_info < (3, 15))
def test_dropping_a_dead_threads_suspended_greenlets_does_not_crash(baseline):
    kept = []
    ran = []

    def parked():
        try:
            getcurrent().parent.switch()
        finally:
            ran.append(threading.get_ident())

    def body():
        for _ in range(3):
            g = greenlet.greenlet(parked)
            g.switch()
            kept.append(g)

    run_in_thread(body)
    assert wait_until(lambda: get_pending_cleanup_count() == 0
                      and all(g.dead for g in kept))
    for g in kept:
        with pytest.raises(greenlet.error, match="^%s$" % re.escape(DEAD_THREAD_MESSAGE)):
            g.switch()
    # The code of a greenlet from a dead thread can never run again, in
    # particular not here in another thread.
    del kept[:]
    del g
    for _ in range(3):
        gc.collect()
        getcurrent()
    assert ran == []
    assert greenlet.greenlet(lambda: "fine").switch() == "fine"


class Marker(object):
    pass


@pytest.mark.skipif(sys.version_info < (3, 15),
                    reason="before 3.15 what a dead thread's greenlet holds is kept, as upstream keeps it")
@pytest.mark.beyond_upstream(
    "upstream keeps what the frames of a greenlet left suspended in an exited thread hold",
    since=(3, 15))
def test_what_a_dead_threads_greenlet_holds_is_released_with_it(baseline):
    """Its frames, the function it runs and that call's arguments can never be used again:
    dropping the greenlet releases them, and it never runs any of its code."""
    kept = []
    refs = []
    ran = []

    def make():
        held_by_frame = Marker()
        passed_in = Marker()

        def parked(argument):
            local = held_by_frame
            try:
                getcurrent().parent.switch()
            finally:
                ran.append("finally")

        refs.extend([weakref.ref(held_by_frame), weakref.ref(passed_in), weakref.ref(parked)])
        g = greenlet.greenlet(parked)
        g.switch(passed_in)
        kept.append(g)

    run_in_thread(make)
    assert wait_until(lambda: get_pending_cleanup_count() == 0 and kept[0].dead)
    assert all(ref() is not None for ref in refs)
    del kept[:]
    for _ in range(3):
        gc.collect()
    assert [ref() for ref in refs] == [None, None, None]
    assert ran == []


@pytest.mark.beyond_upstream(
    "before CPython 3.14 upstream's collector never frees a suspended greenlet: one left in "
    "a cycle by a thread that exited lives, with its saved stack, for the life of the "
    "process (from 3.14 it treats a dead thread's greenlets as collectable)", before=(3, 14))
def test_exited_threads_greenlet_in_a_cycle_is_freed_with_no_greenlet_call_after():
    """A thread leaves a suspended greenlet in a reference cycle and exits. Nothing calls
    into greenlet afterwards, in any thread: the collector alone frees it. (Before 3.15
    what its frames hold stays, as they cannot be seen; see test_gc_cycles.py.)"""
    lines = run_python("""
        import gc, threading, weakref
        import greenlet

        refs = []

        def parked():
            greenlet.getcurrent().parent.switch()

        def thread_body():
            g = greenlet.greenlet(parked)
            g.switch()
            g.me = g
            refs.append(weakref.ref(g))

        t = threading.Thread(target=thread_body)
        t.start()
        t.join()
        for _ in range(3):
            gc.collect()
        print(refs[0]() is None)
    """).assert_clean()
    assert lines == ["True"]


@pytest.mark.skipif(sys.version_info < (3, 15),
                    reason="before 3.15 the collector cannot see into suspended frames")
def test_dead_threads_greenlet_in_a_cycle_is_collected(baseline):
    """The greenlet's bound ``run`` method refers back to it: only the collector can free it,
    and it does once its thread has exited."""
    refs = []

    class Runner(greenlet.greenlet):
        def run(self):
            self.parent.switch()

    def make():
        g = Runner()
        g.switch()
        g.me = g
        refs.append(weakref.ref(g))

    run_in_thread(make)
    assert wait_until(lambda: get_pending_cleanup_count() == 0)
    for _ in range(3):
        gc.collect()
    assert refs[0]() is None


def _trigger_getcurrent(other):
    getcurrent()


def _trigger_create(other):
    greenlet.greenlet()


def _trigger_switch(other):
    other.switch()


@pytest.mark.parametrize("trigger", [_trigger_getcurrent, _trigger_create,
                                     _trigger_switch],
                         ids=["getcurrent", "create", "switch"])
def test_last_reference_dropped_elsewhere_is_killed_back_home(baseline, trigger):
    handoff = []
    log = []
    parked_and_handed_over = threading.Event()
    taken = threading.Event()
    released_here = threading.Event()
    dropped_here = threading.Event()
    checked_in_thread = threading.Event()
    state = {}

    def doomed():
        try:
            getcurrent().parent.switch("parked")
        finally:
            log.append(("finally", threading.get_ident()))

    def body():
        state["ident"] = threading.get_ident()
        g = greenlet.greenlet(doomed)
        assert g.switch() == "parked"
        handoff.append(g)
        del g
        other = greenlet.greenlet(lambda: getcurrent().parent.switch())
        other.switch()
        parked_and_handed_over.set()
        assert taken.wait(TIMEOUT)
        # This thread's own last reference goes before the other thread
        # drops its one.  On free-threaded builds this matters: a reference
        # that a thread's owner still counts is merged back by the owner, so
        # the object would be freed here, in the right thread, and the
        # deferred kill this test is about would never happen.
        del handoff[:]
        released_here.set()
        assert dropped_here.wait(TIMEOUT)
        # Nothing ran while the other thread held and then dropped it.
        state["before"] = list(log)
        # The next suitable greenlet API call in this thread does the kill.
        trigger(other)
        state["after"] = list(log)
        checked_in_thread.set()

    t = threading.Thread(target=body)
    t.start()
    try:
        assert parked_and_handed_over.wait(TIMEOUT)
        assert len(handoff) == 1
        mine = handoff[0]
        taken.set()
        assert released_here.wait(TIMEOUT)
        del mine  # the last reference goes away in this thread
        gc.collect()
        assert log == []  # it cannot be killed from here
        dropped_here.set()
        assert checked_in_thread.wait(TIMEOUT)
    finally:
        taken.set()
        dropped_here.set()
        t.join(TIMEOUT)
    assert not t.is_alive()
    assert state["before"] == []
    assert state["after"] == [("finally", state["ident"])]
    assert wait_until(lambda: settled(baseline))


def test_greenlet_dropped_elsewhere_while_thread_exits_is_cleaned(baseline):
    # Same hand-over, but the owning thread finishes without calling into
    # greenlet again.  Nothing may crash and the main greenlet count must
    # come back down.
    handoff = []
    ready = threading.Event()
    dropped = threading.Event()

    def body():
        g = greenlet.greenlet(lambda: getcurrent().parent.switch())
        g.switch()
        handoff.append(g)
        del g
        ready.set()
        dropped.wait(TIMEOUT)

    t = threading.Thread(target=body)
    t.start()
    try:
        assert ready.wait(TIMEOUT)
        del handoff[:]
    finally:
        dropped.set()
        t.join(TIMEOUT)
    assert wait_until(lambda: settled(baseline))


def test_exited_threads_main_greenlet_as_a_parent(baseline):
    mains = []
    run_in_thread(lambda: mains.append(getcurrent()))
    main = mains.pop()
    assert wait_until(lambda: get_pending_cleanup_count() == 0 and main.dead)
    assert main.parent is None
    assert main.gr_frame is None
    assert not main
    # Its context slot is still an ordinary attribute.
    assert main.gr_context is None
    # A pending greenlet may be given it as parent, but can never start.
    g = greenlet.greenlet(lambda: "unreachable", main)
    assert g.parent is main
    with pytest.raises(greenlet.error) as info:
        g.switch()
    assert str(info.value) == DEAD_THREAD_MESSAGE
    h = greenlet.greenlet(lambda: None)
    h.parent = main
    with pytest.raises(greenlet.error, match="^%s$" % re.escape(DEAD_THREAD_MESSAGE)):
        h.switch()
    del g, h, main
    assert wait_until(lambda: settled(baseline))


def test_per_thread_state_is_released_when_the_thread_ends(baseline):
    import weakref

    class Thing(object):
        def __call__(self, event, args):
            pass

    refs = {}
    local = threading.local()

    def body():
        tracer = Thing()
        refs["tracer"] = weakref.ref(tracer)
        greenlet.settrace(tracer)
        del tracer
        attr = Thing()
        refs["main greenlet attribute"] = weakref.ref(attr)
        getcurrent().attr = attr
        del attr
        arg = Thing()
        refs["suspended frame local"] = weakref.ref(arg)

        def holder(x):
            getcurrent().parent.switch()

        g = greenlet.greenlet(holder)
        g.switch(arg)
        del arg
        local.g = g  # only the thread-local keeps it

    run_in_thread(body)
    assert wait_until(lambda: settled(baseline)
                      and all(r() is None for r in refs.values()))


def test_many_short_lived_threads_leave_nothing_behind(baseline):
    def greenlet_count():
        return sum(1 for o in gc.get_objects()
                   if isinstance(o, greenlet.greenlet))

    gc.collect()
    before = greenlet_count()
    finished = []

    def body(i):
        main = getcurrent()
        glets = [greenlet.greenlet(lambda: main.switch(i)) for _ in range(3)]
        for g in glets:
            assert g.switch() == i
        glets[0].switch()  # one finishes, the others die with the frame
        finished.append(i)

    for batch in range(4):
        threads = [threading.Thread(target=body, args=(batch * 5 + n,))
                   for n in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        assert not any(t.is_alive() for t in threads)
    assert sorted(finished) == list(range(20))
    assert wait_until(lambda: settled(baseline))
    assert greenlet_count() == before
