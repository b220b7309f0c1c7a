"""The C API published through the ``greenlet._C_API`` capsule.

A small extension module, ``capi_probe.c`` next to this file, is compiled at
test time against the installed ``greenlet.h`` and exercises every entry of
the table, plus a C-level subclass of greenlet with a field of its own (the
way gevent's compiled Greenlet extends the type).
"""
import gc
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import sysconfig
import importlib.util
import weakref

import pytest

import greenlet
from greenlet import getcurrent

from _support import DroppedElsewhere, run_python

MODULE_NAME = "_greenlet_capi_probe"

PROBE_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capi_probe.c")

# The messages of greenlet's own C API checks (upstream's exact wording).
BAD_ARGUMENT = r"^bad argument type for built-in operation$"


def checker_match(obj):
    """The anchored pattern of greenlet's message for a parent of the wrong type."""
    return ("^%s$" % re.escape("GreenletChecker: Expected any type of greenlet, not %s"
                               % type(obj).__name__))


def skip_unless_ci(reason):
    """Skip the calling test, or fail it when the environment variable CI is set.

    A CI runner is expected to have a C compiler and the Python headers: there,
    a missing one is a broken setup that must not pass as a skip.
    """
    if os.environ.get("CI"):
        pytest.fail("%s (and CI is set, so this is not skipped)" % reason, pytrace=False)
    pytest.skip(reason)


def _compiler():
    cc = sysconfig.get_config_var("CC") or os.environ.get("CC") or "cc"
    argv = shlex.split(cc)
    if not argv or shutil.which(argv[0]) is None:
        return None
    return argv


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    argv = _compiler()
    if argv is None:
        skip_unless_ci("no C compiler available")
    py_include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(py_include, "Python.h")):
        skip_unless_ci("Python development headers are not installed")
    greenlet_include = os.path.dirname(os.path.abspath(greenlet.__file__))
    assert os.path.exists(os.path.join(greenlet_include, "greenlet.h")), \
        "greenlet.h must be installed inside the greenlet package"

    build = tmp_path_factory.mktemp("capi")
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = build / (MODULE_NAME + suffix)
    # The probe compiles warning-free with gcc and clang on every supported
    # Python, against either greenlet.h: a new warning is a finding.
    cmd = argv + [
        "-shared", "-fPIC", "-O1", "-Wall", "-Werror",
        "-I" + py_include, "-I" + greenlet_include,
        PROBE_SOURCE, "-o", str(target),
    ]
    if sys.platform == "darwin":
        cmd[len(argv):len(argv)] = ["-undefined", "dynamic_lookup"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert proc.returncode == 0, "compile failed:\n%s\n%s" % (
        " ".join(cmd), proc.stdout)

    spec = importlib.util.spec_from_file_location(MODULE_NAME, str(target))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parked(value=None):
    return getcurrent().parent.switch(value)


def suspended_greenlet():
    g = greenlet.greenlet(lambda: getcurrent().parent.switch("parked"))
    assert g.switch() == "parked"
    return g


def dead_greenlet():
    g = greenlet.greenlet(lambda: None)
    g.switch()
    return g


# ---------------------------------------------------------------------------
# Type and exception objects
# ---------------------------------------------------------------------------

def test_type_slot_is_the_greenlet_type(probe):
    assert probe.greenlet_type() is greenlet.greenlet


def test_struct_size_matches_type(probe):
    assert probe.struct_size() == greenlet.greenlet.__basicsize__


@pytest.mark.skipif(sys.maxsize < 2 ** 32 or sysconfig.get_config_var("Py_GIL_DISABLED"),
                    reason="the 40-byte layout is for 64-bit GIL builds")
def test_struct_is_forty_bytes(probe):
    assert probe.struct_size() == 40


def test_check_macro(probe):
    class Sub(greenlet.greenlet):
        pass

    for yes in (getcurrent(), greenlet.greenlet(), Sub(), dead_greenlet(),
                probe.CGreenlet()):
        assert probe.check(yes) is True
    for no in (None, object(), 40, greenlet.greenlet, "greenlet", probe.NULL):
        assert probe.check(no) is False


def test_exception_slots(probe):
    err, exit_ = probe.exceptions()
    assert err is greenlet.error
    assert exit_ is greenlet.GreenletExit


# ---------------------------------------------------------------------------
# PyGreenlet_New and PyGreenlet_GetCurrent
# ---------------------------------------------------------------------------

def test_new_with_run_and_null_parent(probe):
    def run(*args, **kwargs):
        return ("ran", args, kwargs)

    g = probe.new(run, probe.NULL)
    assert type(g) is greenlet.greenlet
    assert g.parent is getcurrent()
    assert g.run is run
    assert not g and not g.dead
    assert g.switch(1, k=2) == ("ran", (1,), {"k": 2})


def test_new_with_both_null(probe):
    g = probe.new(probe.NULL, probe.NULL)
    assert g.parent is getcurrent()
    with pytest.raises(AttributeError, match=r"^run$"):
        g.run
    with pytest.raises(AttributeError, match=r"^run$"):
        g.switch()
    # A run can still be supplied afterwards.
    g.run = lambda: "late run"
    assert g.switch() == "late run"


def test_new_with_explicit_parent(probe):
    main = getcurrent()
    parent = greenlet.greenlet(parked)
    g = probe.new(lambda: "to the parent", parent)
    assert g.parent is parent
    h = probe.new(probe.NULL, parent)
    assert h.parent is parent

    def spawner():
        # Created while `spawner` runs: NULL parent means this greenlet.
        child = probe.new(lambda: getcurrent().parent, probe.NULL)
        return child.switch() is getcurrent()

    assert greenlet.greenlet(spawner).switch() is True
    assert getcurrent() is main


def test_new_with_bad_parent(probe):
    with pytest.raises(TypeError, match=checker_match(object())):
        probe.new(lambda: None, object())
    with pytest.raises(TypeError, match=checker_match([])):
        probe.new(probe.NULL, [])


def test_get_current(probe):
    main = getcurrent()
    assert probe.get_current() is main

    def body():
        return probe.get_current() is getcurrent() is not main

    assert greenlet.greenlet(body).switch() is True
    assert probe.get_current() is main


# ---------------------------------------------------------------------------
# PyGreenlet_Throw
# ---------------------------------------------------------------------------

def test_throw_type_only_into_suspended(probe):
    caught = []

    def body():
        try:
            getcurrent().parent.switch()
        except KeyError as e:
            caught.append(e)
            return "handled"

    g = greenlet.greenlet(body)
    g.switch()
    assert probe.throw(g, KeyError, probe.NULL, probe.NULL) == "handled"
    assert type(caught[0]) is KeyError
    assert caught[0].args == ()


def test_throw_with_value_and_traceback(probe):
    try:
        raise ValueError("with tb")
    except ValueError as e:
        exc, tb = e, e.__traceback__
    g = suspended_greenlet()
    with pytest.raises(ValueError) as info:
        probe.throw(g, ValueError, "plain value", probe.NULL)
    assert info.value.args == ("plain value",)
    g = suspended_greenlet()
    with pytest.raises(ValueError) as info:
        probe.throw(g, type(exc), exc, tb)
    assert info.value is exc
    assert g.dead


def test_throw_greenlet_exit_returns_it(probe):
    g = suspended_greenlet()
    result = probe.throw(g, greenlet.GreenletExit, probe.NULL, probe.NULL)
    assert isinstance(result, greenlet.GreenletExit)
    assert g.dead


def test_throw_into_unstarted(probe):
    ran = []
    g = greenlet.greenlet(lambda: ran.append(1))
    with pytest.raises(IndexError, match=r"^$"):  # instantiated with no arguments
        probe.throw(g, IndexError, probe.NULL, probe.NULL)
    assert ran == []
    assert g.dead


def test_switch_and_throw_from_c_while_a_kill_is_queued(probe):
    """A kill queued by another thread runs inside the switch from C; the value and the
    exception of that switch still reach the C caller (see test_deferred_kills.py)."""
    victim = DroppedElsewhere()

    def catcher():
        try:
            getcurrent().parent.switch("ready")
        except KeyError as e:
            return ("caught", e.args)

    def body():
        child = greenlet.greenlet(lambda *args: ("child got", args))
        victim.drop()
        started = probe.switch(child, (1, 2), probe.NULL)
        other = DroppedElsewhere()
        thrower = greenlet.greenlet(catcher)
        assert thrower.switch() == "ready"
        other.drop()
        thrown = probe.throw(thrower, KeyError, "k", probe.NULL)
        other.assert_killed()
        return started, thrown

    assert greenlet.greenlet(body).switch() == (("child got", (1, 2)), ("caught", ("k",)))
    victim.assert_killed()


def test_throw_rejects_non_exception_and_non_greenlet(probe):
    g = suspended_greenlet()
    with pytest.raises(TypeError, match=r"^exceptions must be classes, or instances, not int$"):
        probe.throw(g, 42, probe.NULL, probe.NULL)
    assert not g.dead
    with pytest.raises(TypeError, match=BAD_ARGUMENT):
        probe.throw(object(), KeyError, probe.NULL, probe.NULL)
    g.throw()


# ---------------------------------------------------------------------------
# PyGreenlet_Switch
# ---------------------------------------------------------------------------

def test_switch_with_null_args_and_kwargs(probe):
    def run(*args, **kwargs):
        return (args, kwargs)

    assert probe.switch(greenlet.greenlet(run), probe.NULL, probe.NULL) == ((), {})


def test_switch_with_args_and_kwargs(probe):
    def run(*args, **kwargs):
        again = getcurrent().parent.switch(("first", args, kwargs))
        return ("second", again)

    g = greenlet.greenlet(run)
    assert probe.switch(g, (1, 2), {"x": 3}) == ("first", (1, 2), {"x": 3})
    assert probe.switch(g, ("one",), probe.NULL) == ("second", "one")


def test_switch_kwargs_only_and_packing_rules(probe):
    def run(**kwargs):
        a = getcurrent().parent.switch(kwargs)
        b = getcurrent().parent.switch()
        return (a, b)

    g = greenlet.greenlet(run)
    assert probe.switch(g, probe.NULL, {"k": "v"}) == {"k": "v"}
    # Resume with keyword arguments only: the greenlet receives a dict (and
    # switching back with no arguments at all delivers an empty tuple).
    assert probe.switch(g, (), {"only": 1}) == ()
    # Resume with both: it receives (args, kwargs).
    assert probe.switch(g, (7,), {"z": 0}) == ({"only": 1}, ((7,), {"z": 0}))


def test_switch_ignores_kwargs_that_are_not_a_dict(probe):
    def run(*args, **kwargs):
        return (args, kwargs)

    g = greenlet.greenlet(run)
    assert probe.switch(g, ("a",), ["not", "a", "dict"]) == (("a",), {})


def test_switch_to_dead_and_to_non_greenlet(probe):
    g = dead_greenlet()
    assert probe.switch(g, ("passes through",), probe.NULL) == "passes through"
    with pytest.raises(TypeError, match=BAD_ARGUMENT):
        probe.switch("nope", probe.NULL, probe.NULL)


# ---------------------------------------------------------------------------
# PyGreenlet_SetParent / PyGreenlet_GetParent
# ---------------------------------------------------------------------------

def test_set_parent_success(probe):
    new_parent = greenlet.greenlet(parked)
    g = greenlet.greenlet(lambda: "x")
    assert probe.set_parent(g, new_parent) == (0, None)
    assert g.parent is new_parent


def test_set_parent_failures(probe):
    g = greenlet.greenlet(lambda: None)
    original = g.parent

    rc, exc = probe.set_parent(g, object())
    assert rc == -1
    assert type(exc) is TypeError
    assert str(exc) == "GreenletChecker: Expected any type of greenlet, not object"

    rc, exc = probe.set_parent(g, g)
    assert rc == -1
    assert type(exc) is ValueError
    assert str(exc) == "cyclic parent chain"

    rc, exc = probe.set_parent(g, probe.NULL)
    assert rc == -1
    assert type(exc) is AttributeError
    assert str(exc) == "can't delete attribute"

    rc, exc = probe.set_parent(getcurrent(), greenlet.greenlet())
    assert rc == -1
    assert type(exc) is AttributeError
    assert str(exc) == "cannot set the parent of a main greenlet"

    assert g.parent is original


def test_get_parent(probe):
    main = getcurrent()
    # The main greenlet has no parent: NULL, and no exception set.
    assert probe.get_parent(main) is probe.NULL
    assert probe.get_parent_old_spelling(main) is probe.NULL
    g = greenlet.greenlet(parked)
    assert probe.get_parent(g) is main
    other = greenlet.greenlet(parked)
    g.parent = other
    assert probe.get_parent(g) is other
    assert probe.get_parent_old_spelling(g) is other
    with pytest.raises(TypeError, match=BAD_ARGUMENT):
        probe.get_parent(object())


def test_new_references_are_balanced(probe):
    main = getcurrent()
    g = greenlet.greenlet(parked)
    for _ in range(3):
        probe.hammer(g)
    before = (sys.getrefcount(main), sys.getrefcount(g))
    probe.hammer(g)
    probe.hammer(main)
    after = (sys.getrefcount(main), sys.getrefcount(g))
    assert before == after


# ---------------------------------------------------------------------------
# PyGreenlet_MAIN / STARTED / ACTIVE
# ---------------------------------------------------------------------------

def test_state_flags(probe):
    main = getcurrent()
    assert probe.flags(main) == (1, 1, 1)
    assert probe.flags(greenlet.greenlet(parked)) == (0, 0, 0)
    assert probe.flags(suspended_greenlet()) == (0, 1, 1)
    # Dead greenlets count as started, however they died.
    assert probe.flags(dead_greenlet()) == (0, 1, 0)
    failed = greenlet.greenlet(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError, match=r"^division by zero$"):
        failed.switch()
    assert probe.flags(failed) == (0, 1, 0)
    killed = suspended_greenlet()
    killed.throw()
    assert probe.flags(killed) == (0, 1, 0)
    never_ran = greenlet.greenlet(lambda: None)
    with pytest.raises(KeyError, match=r"^$"):
        never_ran.throw(KeyError)
    assert probe.flags(never_ran) == (0, 1, 0)
    # From inside a running child:
    inside = greenlet.greenlet(lambda: probe.flags(getcurrent())).switch()
    assert inside == (0, 1, 1)
    # The main greenlet seen from a child is still main, started, active.
    assert greenlet.greenlet(lambda: probe.flags(main)).switch() == (1, 1, 1)


def test_state_flags_reject_non_greenlets(probe):
    for which in range(3):
        rc, exc = probe.flag_rc(object(), which)
        assert rc == -1
        assert type(exc) is TypeError
        assert str(exc) == "bad argument type for built-in operation"
    with pytest.raises(TypeError, match=BAD_ARGUMENT):
        probe.flags(None)


# ---------------------------------------------------------------------------
# A subclass written in C with its own storage
# ---------------------------------------------------------------------------

def test_c_subclass_layout(probe):
    CG = probe.CGreenlet
    assert issubclass(CG, greenlet.greenlet)
    assert CG.__base__ is greenlet.greenlet
    assert probe.tag_offset() == probe.struct_size()
    assert CG.__basicsize__ >= probe.tag_offset() + struct.calcsize("l")


@pytest.mark.skipif(sys.maxsize < 2 ** 32 or sysconfig.get_config_var("Py_GIL_DISABLED"),
                    reason="the 40-byte layout is for 64-bit GIL builds")
def test_c_subclass_field_is_at_offset_forty(probe):
    assert probe.tag_offset() == 40
    assert probe.CGreenlet.__basicsize__ == 48


def test_c_subclass_field_survives_switching(probe):
    main = getcurrent()
    seen = []

    def run():
        me = getcurrent()
        seen.append(me.tag)
        me.bump()
        main.switch("suspended")
        seen.append(me.raw_tag())
        me.tag = -5
        return "finished"

    g = probe.CGreenlet(run)
    assert g.tag == 0  # zero-initialized
    g.tag = 41
    assert g.switch() == "suspended"
    assert g.tag == 42 and g.raw_tag() == 42
    g.tag = 100
    assert g.switch() == "finished"
    assert seen == [41, 100]
    assert g.dead
    assert g.tag == -5 and g.raw_tag() == -5


def test_c_subclass_built_from_c(probe):
    def run(x):
        return (x, getcurrent().raw_tag())

    g = probe.make_cgreenlet(run, 1234)
    assert type(g) is probe.CGreenlet
    assert g.parent is getcurrent()
    assert probe.flags(g) == (0, 0, 0)
    assert probe.switch(g, ("arg",), probe.NULL) == ("arg", 1234)


def test_c_subclass_keeps_greenlet_features(probe):
    g = probe.CGreenlet(parked)
    g.extra = "dict works"
    ref = weakref.ref(g)
    g.tag = 9
    assert g.switch("v") == "v"
    assert g.extra == "dict works"
    assert g.tag == 9
    assert repr(g).startswith("<_greenlet_capi_probe.CGreenlet object at ")
    assert probe.get_parent(g) is getcurrent()
    del g
    assert ref() is None


def test_c_subclass_killed_on_release_sees_its_field(probe):
    log = []

    def run():
        try:
            getcurrent().parent.switch()
        finally:
            # No local reference to ourselves: that would keep us alive.
            log.append(getcurrent().raw_tag())

    g = probe.CGreenlet(run)
    g.tag = 77
    g.switch()
    del g
    assert log == [77]


def test_python_subclass_of_c_subclass(probe):
    class Worker(probe.CGreenlet):
        def __init__(self, tag, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.tag = tag

        def run(self, n):
            total = 0
            while n:
                total += self.tag
                n = self.parent.switch(total)
            return ("done", self.raw_tag())

    w = Worker(5)
    assert probe.check(w)
    assert w.switch(1) == 5
    w.tag = 10
    assert w.switch(1) == 15
    assert w.switch(0) == ("done", 10)
    assert probe.flags(w)[2] == 0


def test_many_c_subclass_instances_in_cycles_are_collected(probe):
    refs = []
    for i in range(200):
        g = probe.CGreenlet(parked)
        g.tag = i
        g.me = g
        refs.append(weakref.ref(g))
    del g
    gc.collect()
    assert all(r() is None for r in refs)


# ---------------------------------------------------------------------------
# Threads and interpreter shutdown
# ---------------------------------------------------------------------------

def test_capi_in_another_thread(probe):
    import threading

    main = getcurrent()
    box = {}
    ready = threading.Event()
    release = threading.Event()

    def body():
        cur = probe.get_current()
        box["distinct main"] = cur is not main
        box["flags"] = probe.flags(cur)
        box["no parent"] = probe.get_parent(cur) is probe.NULL
        child = probe.new(lambda: getcurrent().parent.switch("parked"), probe.NULL)
        box["child parent"] = child.parent is cur
        box["parked"] = probe.switch(child, probe.NULL, probe.NULL)
        box["main"], box["child"] = cur, child
        ready.set()
        release.wait(10)
        child = box.pop("child")
        del box["main"]
        child.switch()  # finish it at home

    t = threading.Thread(target=body)
    t.start()
    try:
        assert ready.wait(10)
        assert box["distinct main"] and box["no parent"] and box["child parent"]
        assert box["flags"] == (1, 1, 1)
        assert box["parked"] == "parked"
        # Querying from here is fine; switching is not.
        assert probe.flags(box["child"]) == (0, 1, 1)
        assert probe.get_parent(box["child"]) is box["main"]
        # The message names both main greenlets: ours, and the one of the thread
        # the target belongs to, suspended in its wait.
        wrong_thread = ("Cannot switch to a different thread\n\tCurrent:  %r\n\tExpected: %r"
                        % (main, box["main"]))
        with pytest.raises(greenlet.error) as info:
            probe.switch(box["child"], probe.NULL, probe.NULL)
        assert str(info.value) == wrong_thread
        with pytest.raises(greenlet.error) as info:
            probe.throw(box["child"], KeyError, probe.NULL, probe.NULL)
        assert str(info.value) == wrong_thread
        mine = greenlet.greenlet(parked)
        mine.switch()
        rc, exc = probe.set_parent(mine, box["main"])
        assert rc == -1
        assert type(exc) is ValueError
        assert str(exc) == "parent cannot be on a different thread"
        mine.switch()
    finally:
        release.set()
        t.join(10)
    assert not t.is_alive()


def test_capi_during_interpreter_finalization(probe):
    # Mirrors what a compiled extension (gevent, say) may do from a
    # finalizer that only runs in the interpreter's final collection:
    # PyGreenlet_GetCurrent refuses, everything else keeps working.
    child = run_python(r"""
        import gc, importlib.util, os, sys
        name, path = sys.argv[1:]
        spec = importlib.util.spec_from_file_location(name, path)
        probe = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(probe)
        import greenlet

        def say(text, _write=os.write):
            _write(1, (text + "\n").encode())

        main = greenlet.getcurrent()
        def parked():
            return ("resumed", main.switch("parked"))
        glets = []
        for _ in range(3):
            g = greenlet.greenlet(parked)
            g.switch()
            glets.append(g)

        class Late(object):
            def __del__(self, probe=probe, say=say, glets=glets, main=main):
                N = probe.NULL
                checks = [
                    ("GetCurrent", lambda: probe.get_current()),
                    ("New(run, NULL)+Switch",
                     lambda: probe.switch(probe.new(lambda: "new ran", N), N, N)),
                    ("New(run, main)+Switch",
                     lambda: probe.switch(probe.new(lambda: "new ran", main), N, N)),
                    ("Switch", lambda: probe.switch(glets[0], ("x",), N)),
                    ("Throw", lambda: probe.throw(glets[1], greenlet.GreenletExit, N, N)),
                    ("SetParent", lambda: probe.set_parent(glets[2], main)),
                    ("GetParent", lambda: probe.get_parent(glets[2]) is main),
                    ("flags", lambda: probe.flags(main)),
                    ("C subclass", lambda: probe.switch(
                        probe.make_cgreenlet(lambda: "cg ran", 1), N, N)),
                ]
                for label, check in checks:
                    try:
                        say("%s: %r" % (label, check()))
                    except Exception as e:
                        say("%s: %s: %s" % (label, type(e).__name__, e))

        gc.disable()
        late = Late()
        late.cycle = late
        del late
        say("main finished")
        """, probe.__name__, probe.__file__)
    lines = child.assert_clean()
    assert lines[0] == "main finished", child.detail
    result = dict(line.split(": ", 1) for line in lines[1:])
    assert result == {
        "GetCurrent": "RuntimeError: greenlet is being finalized",
        "New(run, NULL)+Switch": "'new ran'",
        "New(run, main)+Switch": "'new ran'",
        "Switch": "('resumed', 'x')",
        "Throw": "GreenletExit()",
        "SetParent": "(0, None)",
        "GetParent": "True",
        "flags": "(1, 1, 1)",
        "C subclass": "'cg ran'",
    }


# ---------------------------------------------------------------------------
# Switch hooks (beyond upstream: the capsule greenlet._C_API_EXT)
# ---------------------------------------------------------------------------

NO_EXT_CAPSULE = "upstream has no greenlet._C_API_EXT capsule (PyGreenlet_AddSwitchHook)"


@pytest.fixture
def hooks(probe):
    """The probe, with its hook counters reset; removes the hooks a test leaves added."""
    probe.reset_hook_calls()
    added = {"counting": False, "indexed": set()}
    yield probe, added
    if added["counting"]:
        probe.remove_counting_hook()
    for i in sorted(added["indexed"]):
        probe.remove_indexed_hook(i)
    probe.reset_hook_calls()


@pytest.mark.beyond_upstream(NO_EXT_CAPSULE)
def test_the_ext_capsule_is_exported():
    import greenlet._greenlet
    assert greenlet._C_API_EXT is greenlet._greenlet._C_API_EXT
    assert type(greenlet._C_API_EXT).__name__ == "PyCapsule"
    assert "greenlet._C_API_EXT" in repr(greenlet._C_API_EXT)


@pytest.mark.beyond_upstream(NO_EXT_CAPSULE)
def test_switch_hook_sees_every_switch(hooks):
    import threading
    probe, added = hooks
    main = getcurrent()
    seen_inside = []

    def body():
        # The hook ran for the switch into this greenlet before it got control.
        seen_inside.append((probe.hook_calls()[0], probe.last_origin_is(main),
                            probe.last_target_is(getcurrent())))
        main.switch("parked")
        return "done"

    g = greenlet.greenlet(body)
    probe.add_counting_hook()
    added["counting"] = True
    assert probe.hook_calls()[0] == 0
    assert g.switch() == "parked"  # main -> g, g -> main
    assert seen_inside == [(1, True, True)]
    assert probe.hook_calls()[0] == 2
    assert probe.last_origin_is(g) and probe.last_target_is(main)
    assert main.switch("to self") == "to self"  # no switch at all
    assert probe.hook_calls()[0] == 2
    g2 = greenlet.greenlet(lambda: main.switch("parked"))
    assert g2.switch() == "parked"
    assert probe.hook_calls()[0] == 4
    assert probe.last_origin_is(g2) and probe.last_target_is(main)
    assert g.switch() == "done"  # main -> g, g finishes -> main
    assert probe.hook_calls()[0] == 6
    assert probe.last_origin_is(g) and probe.last_target_is(main)
    with pytest.raises(KeyError):
        g2.throw(KeyError)  # a throw is a switch too
    calls, target_was_current, thread_id = probe.hook_calls()
    assert calls == 8
    # Called once the target is current, in the switching thread.
    assert target_was_current is True
    assert thread_id == threading.get_ident()

    probe.remove_counting_hook()
    added["counting"] = False
    assert greenlet.greenlet(lambda: 1).switch() == 1
    assert probe.hook_calls()[0] == 8


@pytest.mark.beyond_upstream(NO_EXT_CAPSULE)
def test_switch_hook_in_another_thread(hooks):
    import threading
    probe, added = hooks
    probe.add_counting_hook()
    added["counting"] = True
    box = {}

    def body():
        box["tid"] = threading.get_ident()
        g = greenlet.greenlet(lambda: "ran")
        box["value"] = g.switch()

    t = threading.Thread(target=body)
    t.start()
    t.join(10)
    assert not t.is_alive()
    assert box["value"] == "ran"
    calls, target_was_current, thread_id = probe.hook_calls()
    assert calls == 2
    assert target_was_current is True
    assert thread_id == box["tid"]


@pytest.mark.beyond_upstream(NO_EXT_CAPSULE)
def test_switch_hook_errors(hooks):
    probe, added = hooks
    with pytest.raises(ValueError, match="NULL"):
        probe.add_null_hook()
    with pytest.raises(ValueError) as info:
        probe.remove_counting_hook()  # never added
    assert str(info.value) == "PyGreenlet_RemoveSwitchHook: no such hook"
    probe.add_counting_hook()
    added["counting"] = True
    probe.remove_counting_hook()
    added["counting"] = False
    with pytest.raises(ValueError) as info:
        probe.remove_counting_hook()  # removed twice
    assert str(info.value) == "PyGreenlet_RemoveSwitchHook: no such hook"
    # The same hook with another argument is another hook.
    probe.add_indexed_hook(0)
    added["indexed"].add(0)
    with pytest.raises(ValueError) as info:
        probe.remove_indexed_hook(1)
    assert str(info.value) == "PyGreenlet_RemoveSwitchHook: no such hook"


@pytest.mark.beyond_upstream(NO_EXT_CAPSULE)
def test_sixteen_switch_hooks_and_no_more(hooks):
    probe, added = hooks
    for i in range(16):
        probe.add_indexed_hook(i)
        added["indexed"].add(i)
    with pytest.raises(RuntimeError):
        probe.add_indexed_hook(16)
    with pytest.raises(RuntimeError):
        probe.add_counting_hook()
    # Each was called, with its own argument.
    assert greenlet.greenlet(lambda: 1).switch() == 1
    assert probe.indexed_hook_calls()[:17] == [2] * 16 + [0]
    # Removing one makes room for one, and the others stay.
    probe.remove_indexed_hook(5)
    added["indexed"].discard(5)
    probe.add_counting_hook()
    added["counting"] = True
    assert greenlet.greenlet(lambda: 1).switch() == 1
    assert probe.indexed_hook_calls()[:17] == [4] * 5 + [2] + [4] * 10 + [0]
    assert probe.hook_calls()[0] == 2
    for i in sorted(added["indexed"]):
        probe.remove_indexed_hook(i)
    added["indexed"].clear()
    probe.remove_counting_hook()
    added["counting"] = False
    assert greenlet.greenlet(lambda: 1).switch() == 1
    assert probe.indexed_hook_calls()[:17] == [4] * 5 + [2] + [4] * 10 + [0]
    assert probe.hook_calls()[0] == 2
