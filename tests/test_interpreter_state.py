"""The per-greenlet interpreter state on every CPython version, 3.14 and 3.15 included.

Each test aims at one part of the thread state that a switch saves and restores, or at
one way CPython reaches a suspended greenlet's frames:

- frames entered from C (3.12+ keeps an entry frame on the C stack for each, owned by
  the C stack on 3.12-3.13 and by the interpreter from 3.14) while other greenlets
  overwrite that stack;
- frames walked through ``gr_frame`` and ``f_back`` while suspended, also when the
  greenlet switched away while its innermost frame was being torn down;
- the recursion limits, counted per greenlet (3.14 checks C recursion by the stack
  pointer instead of a counter);
- the JIT's executor pointer (3.14+), saved per greenlet;
- the argument errors, worded as the running CPython words them.
"""
import gc
import sys
import textwrap

import pytest

import greenlet
from greenlet import getcurrent
from _support import run_python
from test_stress import frames_named


def through_c(function, *args):
    """Calls ``function(*args)`` from C code (map's iterator), so the eval loop is entered
    anew: on 3.12+ that pushes an entry frame that lives on the C stack."""
    return list(map(lambda packed: function(*packed), [args]))[0]


def descend(depth, at_bottom):
    """Recurses ``depth`` levels, every level entered from C; runs ``at_bottom()`` there."""
    if depth == 0:
        return at_bottom()
    return through_c(descend, depth - 1, at_bottom) + 1


# ---------------------------------------------------------------------------
# Frames entered from C, on a stack that other greenlets overwrite
# ---------------------------------------------------------------------------

def test_greenlet_suspended_deep_in_c_recursion_resumes_intact():
    main = getcurrent()

    def deep(tag, depth):
        return descend(depth, lambda: main.switch((tag, "at bottom")))

    a = greenlet.greenlet(deep)
    b = greenlet.greenlet(deep)
    assert a.switch("a", 150) == ("a", "at bottom")
    # b starts where a's frames lay on the C stack and goes deeper.
    assert b.switch("b", 300) == ("b", "at bottom")
    assert frames_named(a.gr_frame, "descend") == 151
    assert frames_named(b.gr_frame, "descend") == 301
    # Each level adds one on the way out: every frame and value came back intact.
    assert a.switch(0) == 150
    assert b.switch(0) == 300
    assert a.dead and b.dead


def test_f_back_walks_of_kept_frames_survive_other_greenlets():
    main = getcurrent()
    kept = []

    def keep_and_park():
        kept.append(sys._getframe())
        main.switch()
        return 0

    def body():
        return descend(40, keep_and_park)

    g = greenlet.greenlet(body)
    g.switch()
    # Other greenlets run over the same stack, deeper than g was.
    for _ in range(3):
        greenlet.greenlet(lambda: descend(120, lambda: 0)).switch()
    assert frames_named(kept[0], "descend") == 41
    assert frames_named(g.gr_frame, "descend") == 41
    assert g.gr_frame is kept[0]
    assert g.switch() == 40
    assert g.dead
    # A frame kept past the end of its greenlet is still safe to walk.
    assert frames_named(kept[0], "descend") >= 0


class SwitchesAwayWhenFreed(object):
    """Switches to ``target`` from its ``__del__``."""

    def __init__(self, target, log):
        self.target = target
        self.log = log

    def __del__(self):
        self.log.append("del")
        self.target.switch("from __del__")
        self.log.append("del resumed")


def test_switch_while_a_returning_frame_is_torn_down():
    """The innermost frame can be an entry frame on the C stack when the switch happens:
    the eval loop has unlinked the returning frame and is clearing its locals."""
    main = getcurrent()
    log = []

    def leaf():
        local = SwitchesAwayWhenFreed(main, log)  # freed as leaf returns
        return "leaf returned"

    def body():
        result = through_c(leaf)
        log.append(result)
        return "body done"

    g = greenlet.greenlet(body)
    assert g.switch() == "from __del__"
    assert log == ["del"]
    # Suspended now; its visible frames skip what lies on the C stack.
    frame = g.gr_frame
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    assert "body" in names
    greenlet.greenlet(lambda: descend(80, lambda: 0)).switch()
    gc.collect()  # the collector may visit the suspended frames (3.15)
    assert g.switch() == "body done"
    assert log == ["del", "del resumed", "leaf returned"]


# ---------------------------------------------------------------------------
# Recursion limits
# ---------------------------------------------------------------------------

def test_c_recursion_limit_applies_inside_a_greenlet():
    """Recursion through C calls is stopped cleanly, never by a crash (from 3.14 the check
    compares the stack pointer with limits measured for the thread's stack)."""
    def recurse():
        return through_c(recurse)

    def body():
        try:
            recurse()
        except RecursionError:
            return "RecursionError"

    main = getcurrent()
    parked = greenlet.greenlet(lambda: descend(100, lambda: main.switch() or 0))
    parked.switch()
    for _ in range(3):
        assert greenlet.greenlet(body).switch() == "RecursionError"
    parked.switch()
    assert parked.dead


def test_recursion_depth_is_counted_per_greenlet():
    main = getcurrent()
    limit = sys.getrecursionlimit()

    def park_deep(depth):
        def at_bottom():
            main.switch()
            return 0
        def down(n):
            return at_bottom() if n == 0 else down(n - 1)
        return down(depth)

    # Two greenlets each parked most of the way to the limit: neither counts the other's
    # depth, so both can go on.
    a = greenlet.greenlet(park_deep)
    b = greenlet.greenlet(park_deep)
    a.switch(limit * 2 // 3)
    b.switch(limit * 2 // 3)
    assert a.switch() == 0
    assert b.switch() == 0


def test_a_lower_recursion_limit_reaches_suspended_greenlets():
    main = getcurrent()
    old = sys.getrecursionlimit()

    def recurse(n):
        return recurse(n + 1)

    def body():
        main.switch()
        try:
            recurse(0)
        except RecursionError:
            return "RecursionError"

    g = greenlet.greenlet(body)
    g.switch()
    sys.setrecursionlimit(200)
    try:
        assert g.switch() == "RecursionError"
    finally:
        sys.setrecursionlimit(old)


# ---------------------------------------------------------------------------
# The JIT's executor (3.14+)
# ---------------------------------------------------------------------------

JIT_SCRIPT = textwrap.dedent("""
    import sys
    import greenlet

    main = greenlet.getcurrent()

    def hot(tag, rounds):
        total = 0
        for i in range(rounds):
            total += i % 7
            if i % 5000 == 0:
                main.switch((tag, i))   # switch away inside a hot loop
        return (tag, total)

    workers = [greenlet.greenlet(hot) for _ in range(4)]
    for n, w in enumerate(workers):
        w.switch("w%d" % n, 200000)
    results = {}
    while len(results) < len(workers):
        for w in workers:
            if not w.dead:
                value = w.switch()
                if w.dead:
                    results[value[0]] = value[1]
    expected = sum(i % 7 for i in range(200000))
    assert all(total == expected for total in results.values()), results
    print("jit", getattr(sys, "_jit", None) and sys._jit.is_enabled(), len(results))
""")


@pytest.mark.skipif(sys.version_info < (3, 14), reason="the executor field is 3.14+")
def test_switching_inside_jitted_loops():
    lines = run_python(JIT_SCRIPT, env={"PYTHON_JIT": "1"}, timeout=300).assert_clean()
    (line,) = lines
    tag, enabled, count = line.split()
    assert tag == "jit"
    assert count == "4"
    if not hasattr(sys, "_jit") or not sys._jit.is_available():
        pytest.skip("this CPython has no JIT; the loops ran in the interpreter")
    assert enabled == "True"


# ---------------------------------------------------------------------------
# Messages CPython's own argument parsing produces
# ---------------------------------------------------------------------------

def test_unknown_keyword_is_worded_as_the_running_cpython_words_it():
    with pytest.raises(TypeError) as info:
        greenlet.greenlet(foo=1)
    if sys.version_info >= (3, 13):
        assert str(info.value) == "green() got an unexpected keyword argument 'foo'"
    else:
        assert str(info.value) == "'foo' is an invalid keyword argument for green()"


def test_too_many_arguments_counts_keywords_too():
    with pytest.raises(TypeError) as info:
        greenlet.greenlet(None, None, parent=None)
    assert str(info.value) == "green() takes at most 2 arguments (3 given)"


def test_argument_given_twice():
    with pytest.raises(TypeError) as info:
        greenlet.greenlet(None, run=None)
    assert str(info.value) == "argument for green() given by name ('run') and position (1)"
