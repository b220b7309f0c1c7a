"""Seeing inside a running program: greenlet.enumerate, stats, accounting, the global
trace function, context inheritance and the stack dumps.

None of this is in upstream greenlet 3.5.6, so every test here is ``beyond_upstream``:
against upstream, each must fail (a strict xfail).
"""
import contextvars
import gc
import io
import random
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

from _support import parked_greenlet

pytestmark = pytest.mark.beyond_upstream(
    "upstream has no greenlet.enumerate/enumerate_all/stats/set_accounting/"
    "set_context_inheritance/settrace_all/format_stacks/dump_stacks, nor the gr_switches, "
    "gr_stack_saved_max, gr_bytes_copied and gr_run_ns attributes")

TIMEOUT = 10.0
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

STATS_KEYS = {"switches", "bytes_copied", "stack_saved_max", "run_ns", "live", "created",
              "heap_bytes", "dedicated_stacks_refused", "dedicated_stacks_pooled"}


def _stack_mode():
    """The running thread's stack mode (set by GREENLET_STACK_MODE for new threads)."""
    return greenlet.get_stack_mode()


# -- helpers ------------------------------------------------------------------------------

def wait_for_cleanups(timeout=TIMEOUT):
    """Waits for the cleanups of exited threads (they run as pending calls)."""
    deadline = time.monotonic() + timeout
    while get_pending_cleanup_count() and time.monotonic() < deadline:
        getcurrent()
        time.sleep(0.002)
    assert get_pending_cleanup_count() == 0


def run_in_thread(fn, *args):
    """Runs ``fn(*args)`` in a new thread, re-raises what it raised, returns what it
    returned, and waits for the thread's greenlet cleanup."""
    box = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # noqa: B902 (handed back to the test's thread)
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join(TIMEOUT)
    assert not t.is_alive(), "the thread did not finish"
    wait_for_cleanups()
    if "error" in box:
        raise box["error"]
    return box["result"]


class ParkedThread(object):
    """A thread that runs ``setup()`` (which may park greenlets and return anything), then
    waits to be released, then runs ``teardown(setup_result)`` and exits."""

    def __init__(self, setup, teardown=None):
        self.setup = setup
        self.teardown = teardown
        self.ready = threading.Event()
        self.release = threading.Event()
        self.value = None
        self.error = None
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        try:
            self.value = self.setup()
            self.ready.set()
            assert self.release.wait(TIMEOUT), "never released"
            if self.teardown is not None:
                self.teardown(self.value)
        except BaseException as e:  # noqa: B902
            self.error = e
        finally:
            self.value = None
            self.ready.set()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(TIMEOUT)
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        # join() returns once the thread's Python state is gone, but its greenlet cleanup is
        # queued by a thread-local destructor that may run a moment later: wait for it too.
        deadline = time.monotonic() + TIMEOUT
        while self.thread.ident in greenlet.stats() and time.monotonic() < deadline:
            getcurrent()
            time.sleep(0.002)
        wait_for_cleanups()
        if self.error is not None and exc[0] is None:
            raise self.error

    @property
    def ident(self):
        return self.thread.ident


def park_in(name, main=None):
    """A started greenlet, parked in a function called ``name`` (in a switch to ``main``,
    default: the current greenlet); switching to it with anything finishes it."""
    main = main or getcurrent()
    ns = {"main": main}
    exec("def %s():\n    return main.switch('parked')\n" % name, ns)  # noqa: S102
    g = greenlet.greenlet(ns[name])
    assert g.switch() == "parked"
    return g


def finish(*glets):
    for g in glets:
        if not g.dead:
            g.switch("finish")
        assert g.dead


def same(a, b):
    """Two lists hold the very same objects, in the same order."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


# -- 1. enumerate -------------------------------------------------------------------------

def test_fresh_thread_has_only_its_main_greenlet():
    def body():
        before = greenlet.enumerate_all()
        here = threading.get_ident()
        listed = greenlet.enumerate()
        return (here in before, same(listed, [getcurrent()]), listed[0].parent is None,
                greenlet.stats()[here])

    was_listed, only_main, is_main, row = run_in_thread(body)
    # enumerate_all() gives the calling thread greenlet state: it lists itself.
    assert was_listed
    assert only_main and is_main
    assert set(row) == STATS_KEYS
    assert (row["live"], row["created"], row["switches"], row["bytes_copied"]) == (1, 0, 0, 0)


def test_started_suspended_greenlets_in_start_order():
    main = getcurrent()
    assert same(greenlet.enumerate(), [main])
    a = greenlet.greenlet(lambda: main.switch("parked"))
    b = greenlet.greenlet(lambda: main.switch("parked"))
    c = greenlet.greenlet(lambda: main.switch("parked"))
    unstarted = greenlet.greenlet(lambda: None)
    try:
        # Creation order a, b, c; start order c, a, b.
        assert c.switch() == "parked"
        assert a.switch() == "parked"
        assert b.switch() == "parked"
        assert same(greenlet.enumerate(), [main, c, a, b])
        assert not any(g is unstarted for g in greenlet.enumerate())
        # A switch does not reorder.
        assert c.switch("x") == "x" and c.dead
        assert same(greenlet.enumerate(), [main, a, b])
    finally:
        finish(a, b)
    assert same(greenlet.enumerate(), [main])
    del unstarted


def test_finished_failed_and_killed_greenlets_leave():
    main = getcurrent()
    done = greenlet.greenlet(lambda: "done")
    assert done.switch() == "done"
    assert same(greenlet.enumerate(), [main])

    def fails():
        main.switch()
        raise KeyError("x")
    failing = greenlet.greenlet(fails)
    failing.switch()
    assert same(greenlet.enumerate(), [main, failing])
    with pytest.raises(KeyError):
        failing.switch()
    assert same(greenlet.enumerate(), [main])

    keep = parked_greenlet()
    victim = parked_greenlet()
    assert same(greenlet.enumerate(), [main, keep, victim])
    ref = weakref.ref(victim)
    del victim  # killed: GreenletExit thrown in, in this thread
    assert ref() is None
    assert same(greenlet.enumerate(), [main, keep])
    keep.throw(greenlet.GreenletExit)
    assert keep.dead
    assert same(greenlet.enumerate(), [main])


def test_the_registry_holds_no_references():
    g = parked_greenlet()
    refs_before = sys.getrefcount(g)
    listed = greenlet.enumerate()
    assert listed[-1] is g
    del listed
    assert sys.getrefcount(g) == refs_before
    ref = weakref.ref(g)
    del g
    # No collection needed: nothing but the name held it.
    assert ref() is None
    assert len(greenlet.enumerate()) == 1


def test_thread_argument_forms():
    main = getcurrent()
    g = parked_greenlet()
    try:
        expected = [main, g]
        assert same(greenlet.enumerate(), expected)
        assert same(greenlet.enumerate(None), expected)
        assert same(greenlet.enumerate(threading.get_ident()), expected)
        assert same(greenlet.enumerate(threading.current_thread()), expected)
        assert same(greenlet.enumerate(thread=threading.get_ident()), expected)
        # An id no thread has (a finished thread's id could be reused: make one up).
        unknown = max(list(greenlet.enumerate_all()) + [threading.get_ident()]) + 4096
        assert greenlet.enumerate(unknown) == []
        for bad, name in (("1", "str"), (1.5, "float"), (object(), "object"),
                          (threading.Thread(), "Thread")):  # a Thread not started has no id
            with pytest.raises(TypeError) as info:
                greenlet.enumerate(bad)
            assert str(info.value) == (
                "thread must be a thread id or a started threading.Thread, not %s" % name)
    finally:
        finish(g)


def test_another_threads_greenlets_while_it_is_parked():
    def setup():
        return (getcurrent(), parked_greenlet(), parked_greenlet())

    def teardown(glets):
        finish(*glets[1:])

    with ParkedThread(setup, teardown) as t:
        theirs = list(t.value)
        assert same(greenlet.enumerate(t.ident), theirs)
        assert same(greenlet.enumerate(t.thread), theirs)
        assert same(greenlet.enumerate_all()[t.ident], theirs)
        assert same(greenlet.enumerate_all()[threading.get_ident()], greenlet.enumerate())
        assert greenlet.stats()[t.ident]["live"] == 3
        assert greenlet.stats()[t.ident]["created"] == 2
        assert not any(g is theirs[1] for g in greenlet.enumerate())
        del theirs


# -- 2. exited threads --------------------------------------------------------------------

@pytest.mark.leaves_greenlets(
    "before 3.15 the frame of a greenlet left suspended in an exited thread is kept, as "
    "upstream keeps it, and it refers to that thread's main greenlet",
    when=sys.version_info < (3, 15))
def test_an_exited_thread_takes_its_greenlets_off():
    kept = []

    def setup():
        kept.append(parked_greenlet())  # still suspended when its thread exits
        return None

    with ParkedThread(setup) as t:
        tid = t.ident
        assert tid in greenlet.enumerate_all()
        assert tid in greenlet.stats()
        assert len(greenlet.enumerate(tid)) == 2
    # __exit__ joined the thread and waited for its cleanup.
    assert tid not in greenlet.enumerate_all()
    assert tid not in greenlet.stats()
    assert greenlet.enumerate(tid) == []
    assert not any(g is kept[0] for glets in greenlet.enumerate_all().values() for g in glets)
    ref = weakref.ref(kept[0])
    del kept[:]
    gc.collect()
    assert ref() is None


# -- 3. many spawns, switches and deaths --------------------------------------------------

def _churn(spawns, seed, checkpoint_every):
    """In a fresh thread: creates ``spawns`` greenlets, switches, parks, finishes, kills,
    and checks the registry and the statistics against exact counts at checkpoints."""
    rng = random.Random(seed)
    main = getcurrent()
    tid = threading.get_ident()
    start = greenlet.stats()[tid]
    assert (start["created"], start["switches"], start["live"]) == (0, 0, 1)
    suspended = []  # in start order
    counts = {"created": 0, "switches": 0, "checkpoints": 0, "max_suspended": 0}

    def parks():
        while main.switch("parked") != "finish":
            pass
        return "finished"

    def returns():
        return "returned"

    def raises():
        raise ValueError("raised")

    def check():
        listed = greenlet.enumerate()
        assert listed[0] is main
        assert same(listed[1:], suspended)
        row = greenlet.stats()[tid]
        assert row["live"] == len(listed) == 1 + len(suspended)
        assert row["created"] == counts["created"]
        assert row["switches"] == counts["switches"]
        if len(suspended) >= 2:
            # Stack copies on the heap, unless every greenlet has a stack of its own.
            assert (row["heap_bytes"] > 0) == (_stack_mode() == "copying")
        counts["checkpoints"] += 1

    def spawn():
        kind = rng.random()
        counts["created"] += 1
        if kind < 0.1:
            greenlet.greenlet(parks)  # never started: never live, dropped at once
            return
        if kind < 0.3:
            g = greenlet.greenlet(returns)
            assert g.switch() == "returned"
        elif kind < 0.4:
            g = greenlet.greenlet(raises)
            with pytest.raises(ValueError):
                g.switch()
        else:
            g = greenlet.greenlet(parks)
            assert g.switch() == "parked"
            counts["switches"] += 2  # into g, back into main
            if len(suspended) < 300:
                suspended.append(g)
                return
            assert g.switch("finish") == "finished"
        counts["switches"] += 2
        assert g.dead

    def act():
        what = rng.random()
        index = rng.randrange(len(suspended))
        if what < 0.4:
            assert suspended[index].switch("poke") == "parked"
        elif what < 0.7:
            g = suspended.pop(index)
            assert g.switch("finish") == "finished"
            assert g.dead
        elif what < 0.85:
            g = suspended.pop(index)
            with pytest.raises(KeyError):
                g.throw(KeyError)
            assert g.dead
        else:
            ref = weakref.ref(suspended.pop(index))  # its last reference: killed
            assert ref() is None
        counts["switches"] += 2

    for i in range(1, spawns + 1):
        spawn()
        if suspended and rng.random() < 0.6:
            act()
        counts["max_suspended"] = max(counts["max_suspended"], len(suspended))
        if i % checkpoint_every == 0:
            check()
    while suspended:
        assert suspended.pop().switch("finish") == "finished"
        counts["switches"] += 2
    check()
    return counts


def test_100k_spawns_switches_and_deaths_stay_consistent():
    t0 = time.monotonic()
    counts = run_in_thread(_churn, 100_000, 2026, 5_000)
    elapsed = time.monotonic() - t0
    assert counts["created"] == 100_000
    assert counts["checkpoints"] == 21
    assert counts["max_suspended"] == 300  # the cap was reached: many parked at once
    assert elapsed < 30, elapsed


def test_created_counts_greenlets_made_while_thread_current():
    tid = threading.get_ident()
    before = greenlet.stats()[tid]["created"]
    made = [greenlet.greenlet(lambda: None) for _ in range(7)]
    assert greenlet.stats()[tid]["created"] == before + 7
    del made
    # Made in another greenlet of this thread: still this thread's.
    g = greenlet.greenlet(lambda: [greenlet.greenlet(lambda: None) for _ in range(3)])
    g.switch()
    assert greenlet.stats()[tid]["created"] == before + 11


# -- 4. per-greenlet statistics -----------------------------------------------------------

def test_gr_switches_counts_switches_into_the_greenlet():
    main = getcurrent()

    def body():
        for _ in range(4):
            main.switch()

    g = greenlet.greenlet(body)
    main_before = main.gr_switches
    assert g.gr_switches == 0
    g.switch()
    assert g.gr_switches == 1
    for n in range(2, 6):
        g.switch()
        assert g.gr_switches == n
    assert g.dead
    assert g.gr_switches == 5  # kept after death
    assert main.gr_switches - main_before == 5
    # A throw into a suspended greenlet is a switch into it too.
    h = parked_greenlet()
    with pytest.raises(ValueError):
        h.throw(ValueError)
    assert h.gr_switches == 2
    # Switching to oneself is no switch.
    cur_before = main.gr_switches
    assert main.switch(42) == 42
    assert main.gr_switches == cur_before
    for attr in ("gr_switches", "gr_stack_saved_max", "gr_bytes_copied", "gr_run_ns"):
        with pytest.raises(AttributeError):
            setattr(g, attr, 0)


def _descend(depth, main):
    # Through map(): each level is a C call too. (Python-to-Python calls do not grow the
    # C stack on 3.11+, so plain recursion would copy no more bytes.)
    if depth == 0:
        return main.switch("deep")
    return next(map(_descend, [depth - 1], [main]))


@pytest.mark.copying_mode("on a dedicated stack nothing is copied")
def test_bytes_copied_grows_with_depth():
    main = getcurrent()
    measured = {}
    for depth in (0, 50):
        g = greenlet.greenlet(_descend)
        assert g.switch(depth, main) == "deep"
        suspended = (g.gr_bytes_copied, g.gr_stack_saved_max)
        assert suspended[0] > 0 and suspended[1] > 0
        # Its stack went to the heap (saved), no more than the most it held.
        assert suspended[0] >= suspended[1]
        g.switch()
        assert g.dead
        # Restored when it resumed: more copied, and both kept once it is dead.
        assert g.gr_bytes_copied > suspended[0]
        assert g.gr_stack_saved_max == suspended[1]
        measured[depth] = (g.gr_bytes_copied, g.gr_stack_saved_max)
    # 50 nested C calls take kilobytes of stack.
    assert measured[50][1] >= measured[0][1] + 50 * 64
    assert measured[50][0] > measured[0][0]
    # The thread's maximum covers them (dead ones included).
    assert greenlet.stats()[threading.get_ident()]["stack_saved_max"] >= measured[50][1]
    never = greenlet.greenlet(lambda: None)
    assert (never.gr_bytes_copied, never.gr_stack_saved_max, never.gr_run_ns) == (0, 0, 0)


def _busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_run_ns_of_a_greenlet_running_in_another_thread():
    """Read from elsewhere, a running greenlet's count includes its current run too, and so
    does its thread's run_ns in stats()."""
    box = {}
    started = threading.Event()

    def worker():
        box["main"] = getcurrent()
        started.set()
        _busy(0.3)

    greenlet.set_accounting(True)
    try:
        t = threading.Thread(target=worker)
        t.start()
        assert started.wait(TIMEOUT)
        time.sleep(0.15)
        assert box["main"].gr_run_ns >= 50e6
        assert greenlet.stats()[t.ident]["run_ns"] >= 50e6
        t.join(TIMEOUT)
    finally:
        greenlet.set_accounting(False)
    box.clear()
    wait_for_cleanups()


def test_run_ns_with_accounting_on_and_off():
    main = getcurrent()

    def busy():
        while True:
            _busy(0.02)
            main.switch()

    def idle():
        while True:
            main.switch()

    b = greenlet.greenlet(busy)
    i = greenlet.greenlet(idle)
    try:
        greenlet.set_accounting(True)
        b.switch()
        i.switch()
        assert b.gr_run_ns >= 15e6
        assert i.gr_run_ns < b.gr_run_ns / 4
        # The running greenlet's count includes its current run.
        def measure_self():
            me = getcurrent()
            first = me.gr_run_ns
            _busy(0.02)
            return first, me.gr_run_ns
        first, second = greenlet.greenlet(measure_self).switch()
        assert second - first >= 15e6

        greenlet.set_accounting(False)
        frozen = (b.gr_run_ns, i.gr_run_ns)
        b.switch()
        i.switch()
        assert (b.gr_run_ns, i.gr_run_ns) == frozen
        # Time spent while off is not charged when it is turned on again.
        before = main.gr_run_ns
        _busy(0.02)
        greenlet.set_accounting(True)
        i.switch()
        assert main.gr_run_ns - before < 5e6
        assert b.gr_run_ns == frozen[0]
        assert greenlet.stats()[threading.get_ident()]["run_ns"] >= b.gr_run_ns
    finally:
        greenlet.set_accounting(False)
        b.throw(greenlet.GreenletExit)
        i.throw(greenlet.GreenletExit)


# -- 5. settrace_all ----------------------------------------------------------------------

def test_settrace_all_rejects_non_callables():
    for bad in (1, "f", object()):
        with pytest.raises(TypeError) as info:
            greenlet.settrace_all(bad)
        assert str(info.value) == "settrace_all() argument must be callable or None"
    assert greenlet.gettrace() is None


def test_settrace_all_reaches_every_thread():
    seen = []
    lock = threading.Lock()

    def callback(event, args):
        with lock:
            seen.append((threading.get_ident(), event, args[1]))

    def switch_once():
        g = greenlet.greenlet(lambda: "ran")
        assert g.switch() == "ran"
        return g

    # A thread that had greenlet state before settrace_all.
    early_done = threading.Event()
    early_cleared = threading.Event()
    early_report = {}

    def early_teardown(_):
        early_report["trace_after_set"] = greenlet.gettrace()
        early_report["g"] = switch_once()
        early_done.set()
        assert early_cleared.wait(TIMEOUT)
        early_report["trace_after_clear"] = greenlet.gettrace()
        early_report["g2"] = switch_once()

    def later():
        return threading.get_ident(), greenlet.gettrace(), switch_once()

    early = ParkedThread(switch_once, early_teardown)
    greenlet.settrace(lambda *a: None)  # replaced by settrace_all
    try:
        with early:
            try:
                assert greenlet.settrace_all(callback) is None
                assert greenlet.gettrace() is callback
                g_main = switch_once()
                early.release.set()
                assert early_done.wait(TIMEOUT)
                # A thread that gets greenlet state afterwards.
                later_id, later_trace, g_later = run_in_thread(later)

                assert greenlet.settrace_all(None) is None
                assert greenlet.gettrace() is None
            finally:
                early_cleared.set()
                early.release.set()
        after_clear = run_in_thread(later)
    finally:
        try:
            greenlet.settrace_all(None)
        finally:
            greenlet.settrace(None)
    assert early_report["trace_after_set"] is callback
    assert later_trace is callback
    assert early_report["trace_after_clear"] is None
    assert after_clear[1] is None

    def targets(tid):
        return [target for t, event, target in seen if t == tid and event == "switch"]

    assert any(t is g_main for t in targets(threading.get_ident()))
    assert any(t is early_report["g"] for t in targets(early.ident))
    assert any(t is g_later for t in targets(later_id))
    # Nothing after settrace_all(None).
    for g in (early_report["g2"], after_clear[2]):
        assert not any(target is g for _, _, target in seen)
    assert greenlet.gettrace() is None


# -- 6. context inheritance ---------------------------------------------------------------

VAR = contextvars.ContextVar("observability_var")


def test_context_inheritance():
    main = getcurrent()

    def body():
        VAR.set("before")
        # Off by default, as upstream: a new greenlet starts in an empty context.
        g = greenlet.greenlet(lambda: VAR.get("unset"))
        assert g.gr_context is None
        out = {"default": g.switch()}
        greenlet.set_context_inheritance(True)
        try:
            g = greenlet.greenlet(lambda: VAR.get("unset"))
            assert g.gr_context is not None and g.gr_context[VAR] == "before"
            VAR.set("after creation")  # a copy was taken: not seen
            out["inherited"] = g.switch()

            def changes():
                VAR.set("inside")
                return VAR.get()
            out["inside"] = greenlet.greenlet(changes).switch()
            out["outside"] = VAR.get()

            # gr_context set by hand wins.
            h = greenlet.greenlet(lambda: VAR.get("unset"))
            h.gr_context = contextvars.Context()
            out["by_hand_empty"] = h.switch()
            k = greenlet.greenlet(lambda: VAR.get("unset"))
            own = contextvars.Context()
            own.run(VAR.set, "own")
            k.gr_context = own
            out["by_hand"] = k.switch()

            # Created in A, started from main: A's context at creation.
            def a_body():
                VAR.set("A")
                made = greenlet.greenlet(lambda: VAR.get("unset"), main)
                VAR.set("A later")
                main.switch(made)
            a = greenlet.greenlet(a_body)
            made = a.switch()
            out["created_in_a"] = made.switch()
            out["main_still"] = VAR.get()
            a.switch()
            assert a.dead
        finally:
            greenlet.set_context_inheritance(False)
        # Off again: upstream's behaviour.
        out["off_again"] = greenlet.greenlet(lambda: VAR.get("unset")).switch()
        return out

    out = contextvars.copy_context().run(body)  # VAR.set() stays in that copy
    assert out == {
        "default": "unset",
        "inherited": "before",
        "inside": "inside",
        "outside": "after creation",
        "by_hand_empty": "unset",
        "by_hand": "own",
        "created_in_a": "A",
        "main_still": "after creation",
        "off_again": "unset",
    }


# -- 7. format_stacks / dump_stacks -------------------------------------------------------

HEADER = re.compile(r"^Greenlet (<.*>) in thread (\d+) \((running|suspended)\):\n")


def parse(stack):
    m = HEADER.match(stack)
    assert m, stack
    return m.group(1), int(m.group(2)), m.group(3), stack[m.end():]


def last_frame(body):
    """The last 'File ..., line ..., in ...' line of a formatted stack."""
    return [line for line in body.splitlines() if line.startswith("  File ")][-1]


def test_format_stacks_of_parked_greenlets():
    main = getcurrent()
    glets = [park_in(name) for name in
             ("parked_in_alpha_xq", "parked_in_beta_xq", "parked_in_gamma_xq")]
    try:
        stacks = greenlet.format_stacks()
        assert len(stacks) == 4
        tid = threading.get_ident()
        r, t, state, body = parse(stacks[0])
        assert (r, t, state) == (repr(main), tid, "running")
        assert "in test_format_stacks_of_parked_greenlets\n" in body
        # Up to the caller: format_stacks' own frames are not in it.
        assert last_frame(body).endswith("in test_format_stacks_of_parked_greenlets")
        assert "_stacks.py" not in body
        for g, name, stack in zip(glets, ("alpha", "beta", "gamma"), stacks[1:]):
            assert stack.startswith("Greenlet %r in thread %d (suspended):\n" % (g, tid))
            assert "in parked_in_%s_xq\n" % name in stack
            for other in {"alpha", "beta", "gamma"} - {name}:
                assert "parked_in_%s_xq" % other not in stack
        assert greenlet.format_stacks(tid) == greenlet.format_stacks(threading.current_thread())
        with pytest.raises(TypeError) as info:
            greenlet.format_stacks("x")
        assert str(info.value) == "thread must be a thread id or a started threading.Thread, not str"
    finally:
        finish(*glets)
    assert len(greenlet.format_stacks()) == 1


def test_format_stacks_from_inside_a_greenlet():
    main = getcurrent()

    def running_in_delta_xq():
        return greenlet.format_stacks()

    g = greenlet.greenlet(running_in_delta_xq)
    main_repr = repr(main).replace("current active", "suspended active")
    stacks = g.switch()
    assert g.dead
    assert len(stacks) == 2
    _, _, state, body = parse(stacks[0])
    assert state == "suspended" and "in test_format_stacks_from_inside_a_greenlet\n" in body
    assert stacks[0].startswith("Greenlet %s in thread %d (suspended):\n"
                                % (main_repr, threading.get_ident()))
    _, _, state, body = parse(stacks[1])
    assert state == "running"
    assert last_frame(body).endswith("in running_in_delta_xq")


def test_dump_stacks_from_a_second_thread():
    glets = [park_in(name) for name in
             ("parked_in_alpha_xq", "parked_in_beta_xq", "parked_in_gamma_xq")]
    here = threading.get_ident()
    try:
        def dumper_in_epsilon_xq():
            buf = io.StringIO()
            assert greenlet.dump_stacks(file=buf) is None
            only_mine = io.StringIO()
            greenlet.dump_stacks(file=only_mine, all_threads=False)
            return threading.get_ident(), buf.getvalue(), only_mine.getvalue()

        # This thread waits in join() meanwhile, its greenlets parked.
        dumper, text, only_mine = run_in_thread(dumper_in_epsilon_xq)
    finally:
        finish(*glets)
    headers = [(int(t), state) for t, state in
               re.findall(r"^Greenlet <.*> in thread (\d+) \((running|suspended)\):$", text, re.M)
               if int(t) in (here, dumper)]
    assert sorted(headers) == sorted([(here, "running"), (here, "suspended"), (here, "suspended"),
                                      (here, "suspended"), (dumper, "running")])
    # The calling thread first.
    assert headers[0] == (dumper, "running")
    if FREE_THREADED:
        # The frames of another live thread's suspended greenlets are not read there, as
        # gr_frame does not read them: that thread could resume the greenlet meanwhile.
        assert text.count("(its stack cannot be read from this thread)\n") == 3
        assert "in parked_in_" not in text
    else:
        for name in ("alpha", "beta", "gamma"):
            assert text.count("in parked_in_%s_xq\n" % name) == 1
    assert "in dumper_in_epsilon_xq\n" in text
    assert "in run_in_thread\n" in text  # this thread's live stack, blocked in join()
    assert "_stacks.py" not in text  # the dumper's running stack ends at its caller
    assert "in thread %d" % here not in only_mine
    assert "in dumper_in_epsilon_xq\n" in only_mine


def test_dump_stacks_defaults_to_stderr(capsys):
    g = park_in("parked_in_zeta_xq")
    header = "Greenlet %r in thread %d (suspended):\n" % (g, threading.get_ident())
    try:
        greenlet.dump_stacks()
    finally:
        finish(g)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "in parked_in_zeta_xq\n" in captured.err
    assert header in captured.err
