"""Interpreter shutdown with greenlets around.

Each test runs a small script in a child interpreter (the same executable,
importing the same greenlet as this process) and checks that it exits
normally and printed what we expect.
"""
import textwrap

import pytest

from _support import run_python

pytestmark = pytest.mark.slow


# The child scripts share this preamble: an unbuffered writer that keeps
# working late in finalization, when sys.stdout may already be gone.
PREAMBLE = """
import os
import greenlet
from greenlet import getcurrent

def say(text, _write=os.write):
    _write(1, (text + "\\n").encode())
"""


def script(body):
    return PREAMBLE + textwrap.dedent(body)


def test_greenlet_module_imported_and_used_exits_cleanly():
    result = run_python(script("""
        assert greenlet.greenlet(lambda: 6 * 7).switch() == 42
        say("done")
    """))
    assert result.assert_clean() == ["done"]
    assert result.err == "", result.detail


def test_suspended_greenlets_of_all_kinds_at_exit():
    result = run_python(script("""
        import contextvars
        import sys

        var = contextvars.ContextVar("var")

        def parked():
            getcurrent().parent.switch()

        def in_except():
            try:
                raise KeyError("pending")
            except KeyError:
                getcurrent().parent.switch()

        def with_context():
            var.set("value")
            getcurrent().parent.switch()

        def nest(level):
            if level:
                inner = greenlet.greenlet(nest)
                inner.switch(level - 1)
            getcurrent().parent.switch()

        keep = []
        for body in (parked, in_except, with_context):
            g = greenlet.greenlet(body)
            g.switch()
            keep.append(g)
        n = greenlet.greenlet(nest)
        n.switch(8)
        keep.append(n)
        self_ref = greenlet.greenlet(parked)
        self_ref.switch()
        self_ref.me = self_ref
        keep.append(self_ref)
        say("suspended: %d" % sum(1 for g in keep if g and not g.dead))
    """))
    assert result.assert_clean() == ["suspended: 5"]


def test_many_suspended_greenlets_with_finally_blocks_at_exit():
    result = run_python(script("""
        def worker(i):
            try:
                getcurrent().parent.switch(i)
            finally:
                pass

        glets = []
        for i in range(200):
            g = greenlet.greenlet(worker)
            assert g.switch(i) == i
            glets.append(g)
        say("parked %d" % len(glets))
    """))
    assert result.assert_clean() == ["parked 200"]


def test_exit_requested_from_inside_a_greenlet():
    result = run_python(script("""
        import sys

        def leave():
            say("leaving from a greenlet")
            sys.exit(7)

        other = greenlet.greenlet(lambda: getcurrent().parent.switch())
        other.switch()  # leave something suspended too
        greenlet.greenlet(leave).switch()
        say("not reached")
    """))
    assert result.assert_clean(rc=7) == [
        "leaving from a greenlet"]


def test_uncaught_error_in_a_greenlet_reports_normally():
    result = run_python(script("""
        def boom():
            raise LookupError("from the greenlet")

        greenlet.greenlet(boom).switch()
    """))
    result.assert_clean(rc=1)
    assert "LookupError: from the greenlet" in result.err, result.detail
    assert "in boom" in result.err, result.detail


def test_threads_with_greenlets_at_exit():
    result = run_python(script("""
        import threading

        stuck = threading.Event()
        ready = threading.Event()
        leftovers = []

        def parked():
            getcurrent().parent.switch()

        def finished_thread():
            for _ in range(5):
                g = greenlet.greenlet(parked)
                g.switch()
                leftovers.append(g)  # outlives its thread

        def daemon_thread():
            def inner():
                ready.set()
                stuck.wait()  # never set: still in a greenlet at exit
            g = greenlet.greenlet(inner)
            g.switch()

        t = threading.Thread(target=finished_thread)
        t.start()
        t.join()
        d = threading.Thread(target=daemon_thread, daemon=True)
        d.start()
        assert ready.wait(30)
        say("threads arranged: %d leftovers" % len(leftovers))
    """))
    assert result.assert_clean() == ["threads arranged: 5 leftovers"]


def test_non_daemon_thread_finishing_during_shutdown():
    result = run_python(script("""
        import threading

        go = threading.Event()

        def worker():
            go.wait(30)
            def body():
                try:
                    getcurrent().parent.switch("parked")
                finally:
                    say("worker greenlet finally")
            g = greenlet.greenlet(body)
            assert g.switch() == "parked"
            del g  # killed here, in its own thread
            say("worker done")

        t = threading.Thread(target=worker)
        t.start()
        say("main done")
        go.set()
        # The interpreter waits for t before finalizing.
    """))
    lines = result.assert_clean()
    assert lines == ["main done", "worker greenlet finally", "worker done"]


def test_atexit_handlers_can_use_greenlets():
    result = run_python("""
        import atexit, os

        def say(text, _write=os.write):
            _write(1, (text + "\\n").encode())

        def use_greenlets(tag):
            import greenlet
            cur = greenlet.getcurrent()
            say("%s: current parent is %r" % (tag, cur.parent))

            def body(x):
                y = greenlet.getcurrent().parent.switch(x * 2)
                return y + 1

            g = greenlet.greenlet(body)
            first = g.switch(5)
            second = g.switch(first)
            say("%s: %d %d dead=%s" % (tag, first, second, g.dead))

            events = []
            old = greenlet.settrace(lambda ev, args: events.append(ev))
            greenlet.greenlet(lambda: None).switch()
            greenlet.settrace(old)
            say("%s: traced %s" % (tag, events))

        # atexit runs handlers last-in first-out, so this one runs after
        # anything greenlet registered on import...
        atexit.register(use_greenlets, "registered before import")
        import greenlet
        # ...and this one before.
        atexit.register(use_greenlets, "registered after import")
        say("main finished")
    """)
    lines = result.assert_clean()
    assert lines == [
        "main finished",
        "registered after import: current parent is None",
        "registered after import: 10 11 dead=True",
        "registered after import: traced ['switch', 'switch']",
        "registered before import: current parent is None",
        "registered before import: 10 11 dead=True",
        "registered before import: traced ['switch', 'switch']",
    ]


def test_atexit_handler_resumes_a_greenlet_suspended_earlier():
    result = run_python(script("""
        import atexit

        def job():
            say("job started")
            getcurrent().parent.switch()
            say("job resumed at exit")
            return "job result"

        g = greenlet.greenlet(job)
        g.switch()

        @atexit.register
        def finish_job():
            say("atexit got %s" % g.switch())

        say("main finished")
    """))
    assert result.assert_clean() == [
        "job started", "main finished", "job resumed at exit",
        "atexit got job result"]


# How a probe object comes to die during interpreter finalization.
PROBE_DEATHS = {
    # Part of a reference cycle, with automatic collection turned off, so only
    # the final collection frees it.
    "final-collection": """
        gc.disable()
        probe = Probe()
        probe.cycle = [probe]
        del probe
    """,
    # A global that goes away when the __main__ module's namespace is torn down.
    "main-teardown": """
        probe = Probe()
    """,
}


@pytest.mark.parametrize("death", sorted(PROBE_DEATHS))
def test_getcurrent_is_refused_while_finalizing_but_greenlets_still_run(death):
    # An object whose __del__ runs during interpreter finalization.  At that
    # point greenlet refuses to hand out the current greenlet, but the trace
    # function can still be read, creating and running a new greenlet still
    # works, and nothing crashes.
    result = run_python(script("""
        import gc

        class Probe(object):
            def __del__(self, say=say, greenlet=greenlet):
                try:
                    greenlet.getcurrent()
                except RuntimeError as e:
                    say("getcurrent: RuntimeError: %s" % e)
                else:
                    say("getcurrent: returned")
                try:
                    say("gettrace: %r" % (greenlet.gettrace(),))
                except Exception as e:
                    say("gettrace: %s" % type(e).__name__)
                g = greenlet.greenlet(lambda: "ran")
                say("new greenlet: %s" % g.switch())
    """) + textwrap.dedent(PROBE_DEATHS[death]) + """say("main finished")\n""")
    assert result.assert_clean() == [
        "main finished",
        "getcurrent: RuntimeError: greenlet is being finalized",
        "gettrace: None",
        "new greenlet: ran",
    ]


def test_getcurrent_in_finalizer_before_shutdown_is_fine():
    # Finalizers that run while the program is still running are not
    # affected by the shutdown guard.
    result = run_python(script("""
        class EarlyProbe(object):
            def __del__(self):
                cur = greenlet.getcurrent()
                say("early: %s" % ("main" if cur.parent is None else "child"))

        p = EarlyProbe()
        del p

        def body():
            q = EarlyProbe()
            del q

        greenlet.greenlet(body).switch()
        say("main finished")
    """))
    assert result.assert_clean() == [
        "early: main", "early: child", "main finished"]


def test_greenlet_dropped_in_atexit_is_still_killed_normally():
    # atexit handlers run before finalization proper: the usual
    # GreenletExit-on-release still happens there.
    result = run_python(script("""
        import atexit

        def worker():
            try:
                getcurrent().parent.switch()
            except greenlet.GreenletExit:
                say("GreenletExit delivered")
            finally:
                say("finally ran")

        holder = [greenlet.greenlet(worker)]
        holder[0].switch()

        @atexit.register
        def drop():
            say("atexit dropping")
            del holder[:]
            say("atexit done")

        say("main finished")
    """))
    assert result.assert_clean() == [
        "main finished", "atexit dropping", "GreenletExit delivered",
        "finally ran", "atexit done"]


def test_suspended_greenlet_freed_by_the_final_collection_is_not_resumed():
    # Once the interpreter is finalizing, a suspended greenlet whose last
    # reference disappears is simply discarded: no GreenletExit is thrown
    # into it and its finally blocks do not run.
    result = run_python(script("""
        import gc

        def worker():
            try:
                getcurrent().parent.switch()
            except greenlet.GreenletExit:
                say("GreenletExit delivered")
            finally:
                say("finally ran")

        gc.disable()
        garbage = [greenlet.greenlet(worker)]
        garbage[0].switch()
        garbage.append(garbage)  # only the final collection frees this
        del garbage
        say("main finished")
    """))
    assert result.assert_clean() == ["main finished"]


def test_suspended_greenlet_released_by_a_late_finalizer_is_not_resumed():
    result = run_python(script("""
        import gc

        def worker():
            try:
                getcurrent().parent.switch()
            finally:
                say("finally ran")

        glets = [greenlet.greenlet(worker)]
        glets[0].switch()

        class Late(object):
            def __del__(self, glets=glets, say=say):
                del glets[:]
                say("released during finalization")

        gc.disable()
        late = Late()
        late.cycle = late
        del late
        say("main finished")
    """))
    assert result.assert_clean() == [
        "main finished", "released during finalization"]
