"""Shared pytest configuration for the greenlet test-suite.

The suite is written against the public behaviour of upstream greenlet 3.x, so it
runs against either upstream or this project's build. CI does both: against
upstream, the tests marked ``beyond_upstream`` must fail (each says why), and all
others must pass. That is what shows the tests encode upstream's behaviour.

Every test is also a cleanliness test: the autouse fixture below fails a test that
leaves a trace function installed, returns on a greenlet other than the main one,
or leaves greenlets or main greenlets alive that were not alive before it.
"""
import gc
import os
import sys
import time

import pytest

import greenlet
import greenlet._greenlet

from _support import IS_THIS_PROJECT, find_main


def pytest_configure(config):
    # CI names the implementation it means to test, so that a PYTHONPATH mistake cannot
    # pass this project's build off as upstream's, or the other way round.
    expect = os.environ.get("GREENLET_TEST_EXPECT")
    if expect and expect != ("this-project" if IS_THIS_PROJECT else "upstream"):
        raise pytest.UsageError("GREENLET_TEST_EXPECT=%s, but greenlet %s is imported from %s"
                                % (expect, greenlet.__version__, greenlet.__file__))


def pytest_report_header(config):
    where = os.path.dirname(os.path.abspath(greenlet.__file__))
    which = "this project's build" if IS_THIS_PROJECT else "UPSTREAM greenlet"
    return "greenlet %s from %s (%s)" % (greenlet.__version__, where, which)


def _applies(marker):
    """Whether a ``beyond_upstream`` marker applies to the running interpreter.

    ``since=(3, 15)`` limits it to that version and later, ``before=(3, 14)`` to
    versions before that one, and ``free_threaded=True`` to free-threaded builds.
    """
    since = marker.kwargs.get("since")
    if since is not None and sys.version_info[:2] < tuple(since):
        return False
    before = marker.kwargs.get("before")
    if before is not None and sys.version_info[:2] >= tuple(before):
        return False
    if marker.kwargs.get("free_threaded") and not _free_threaded():
        return False
    return True


def _free_threaded():
    import sysconfig
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def _difference_here(item):
    """Run against upstream, the first ``beyond_upstream`` marker of the test that applies
    to this interpreter, or None. A test may carry several, e.g. one for the versions where
    upstream always fails it and one, with ``sometimes=True``, where it fails by chance."""
    if IS_THIS_PROJECT:
        return None
    return next((m for m in item.iter_markers("beyond_upstream") if _applies(m)), None)


def _differs_here(item):
    return _difference_here(item) is not None


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = _difference_here(item)
        if marker is not None:
            reason = "upstream differs: " + marker.args[0]
            # A race that upstream loses only some of the time cannot be a strict xfail.
            strict = not marker.kwargs.get("sometimes", False)
            item.add_marker(pytest.mark.xfail(reason=reason, strict=strict))


# -- The cleanliness check -------------------------------------------------------

def _live_greenlets(held=()):
    """Greenlet objects alive, the caller having collected: (all, those not in ``held``)."""
    held = {id(o) for o in held}
    live = [o for o in gc.get_objects() if isinstance(o, greenlet.greenlet)]
    return len(live), sum(1 for o in live if id(o) not in held)


def _live_main_greenlets():
    # A main greenlet may be held by garbage (a finished greenlet in a cycle): collect first.
    # One collection per test when nothing is left over, which the greenlet count reuses.
    gc.collect()
    return greenlet._greenlet.get_total_main_greenlets()


def _settle(count, limit, seconds=2.0):
    """Wait for the cleanups of exited threads, which run as pending calls."""
    value = count()
    deadline = time.monotonic() + seconds
    while value > limit and time.monotonic() < deadline:
        time.sleep(0.002)
        value = count()
    return value


# Free-threaded 3.13 makes every function and class created once a thread has started
# immortal (CPython gh-117783, fixed in 3.14), so a greenlet that a closure or a class
# refers to lives on: there the greenlet count cannot be checked (upstream's suite loses its
# leak checks to the same cause). The other checks still run.
_IMMORTAL_FUNCTIONS = sys.version_info[:2] == (3, 13) and _free_threaded()

# Counts after the previous test, so that each test is charged only for itself.
_baseline = {}


@pytest.fixture(autouse=True)
def leaves_greenlet_state_clean(request):
    """Fail the test if it leaves greenlet state behind.

    A test that must leave something alive by design says so with
    ``@pytest.mark.leaves_greenlets("why", when=condition)``: the greenlet counts
    are then only re-based, not checked. The trace function and the current greenlet are always
    checked.
    """
    main = greenlet.getcurrent()
    assert main.parent is None, "a test must start on the main greenlet"
    if not _baseline:
        gc.collect()
        _baseline["greenlets"] = _live_greenlets()[0]
        _baseline["mains"] = greenlet._greenlet.get_total_main_greenlets()
    yield
    problems = []
    if greenlet.gettrace() is not None:
        problems.append("left a greenlet trace function installed: %r" % (greenlet.gettrace(),))
        greenlet.settrace(None)
    if greenlet.getcurrent() is not main:
        problems.append("ended on %r, not on the main greenlet" % (greenlet.getcurrent(),))
    leaves = request.node.get_closest_marker("leaves_greenlets")
    # A test upstream fails may well leave state behind there: it is not counted.
    counted = (leaves is None or not leaves.kwargs.get("when", True)) and not _differs_here(request.node)
    # Waiting only makes sense where the counts are checked.
    wait = 2.0 if counted else 0.0
    pending = _settle(greenlet._greenlet.get_pending_cleanup_count, 0, wait)
    mains = _settle(_live_main_greenlets, _baseline["mains"], wait)
    # pytest keeps the fixture values of a test until after this check: they are not
    # charged to the test, but they count in the baseline of the next one.
    live, charged = _live_greenlets(request.node.funcargs.values())
    if counted:
        if pending:
            problems.append("left %d thread cleanups pending" % pending)
        if mains > _baseline["mains"]:
            problems.append("left %d main greenlets alive (of exited threads?), %d before"
                            % (mains, _baseline["mains"]))
        if charged > _baseline["greenlets"] and not _IMMORTAL_FUNCTIONS:
            problems.append("left %d greenlets alive, %d before" % (charged, _baseline["greenlets"]))
    _baseline["greenlets"] = live
    _baseline["mains"] = mains
    if problems:
        pytest.fail("the test left greenlet state behind: " + "; ".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def stack_mode(request):
    """The stack mode the test runs in, restored after it.

    The suite runs in the mode the environment chose (``GREENLET_STACK_MODE``); a test that
    asserts copying itself (bytes copied, stack saved) says so with
    ``@pytest.mark.copying_mode("why")`` and runs in copying mode. A test may change the
    mode; it is put back after it.
    """
    if not IS_THIS_PROJECT:
        yield None
        return
    before = _current_stack_mode()
    marker = request.node.get_closest_marker("copying_mode")
    if marker is not None:
        greenlet.set_stack_mode("copying")
    yield greenlet.get_stack_mode()
    greenlet.set_stack_mode(*before)


def _current_stack_mode():
    """(mode, stack_size) for set_stack_mode: a new greenlet gets the mode's stack size."""
    size = greenlet.greenlet().gr_stack_size
    return ("dedicated", size) if size else ("copying", None)


@pytest.fixture
def main_greenlet():
    """The main greenlet of the test's thread."""
    return find_main()
