"""The C API published through the ``greenlet._C_API`` capsule.

A small extension module is compiled at test time against the installed
``greenlet.h`` and exercises every entry of the table, plus a C-level
subclass of greenlet with a field of its own (the way gevent's compiled
Greenlet extends the type).
"""
import gc
import os
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

MODULE_NAME = "_greenlet_capi_probe"

C_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include "structmember.h"
#include "greenlet.h"

/* Python code passes probe.NULL where the C caller should pass NULL. */
static PyObject* null_marker = NULL;
#define ARG(o) ((o) == null_marker ? NULL : (o))

static PyObject*
probe_greenlet_type(PyObject* mod, PyObject* unused)
{
    PyObject* t = (PyObject*)&PyGreenlet_Type;
    Py_INCREF(t);
    return t;
}

static PyObject*
probe_struct_size(PyObject* mod, PyObject* unused)
{
    return PyLong_FromSize_t(sizeof(PyGreenlet));
}

static PyObject*
probe_check(PyObject* mod, PyObject* obj)
{
    return PyBool_FromLong(PyGreenlet_Check(ARG(obj)));
}

static PyObject*
probe_exceptions(PyObject* mod, PyObject* unused)
{
    return Py_BuildValue("(OO)", PyExc_GreenletError, PyExc_GreenletExit);
}

static PyObject*
probe_new(PyObject* mod, PyObject* args)
{
    PyObject* run;
    PyObject* parent;
    if (!PyArg_ParseTuple(args, "OO", &run, &parent)) {
        return NULL;
    }
    return (PyObject*)PyGreenlet_New(ARG(run), (PyGreenlet*)ARG(parent));
}

static PyObject*
probe_get_current(PyObject* mod, PyObject* unused)
{
    return (PyObject*)PyGreenlet_GetCurrent();
}

static PyObject*
probe_throw(PyObject* mod, PyObject* args)
{
    PyObject* g;
    PyObject* typ;
    PyObject* val;
    PyObject* tb;
    if (!PyArg_ParseTuple(args, "OOOO", &g, &typ, &val, &tb)) {
        return NULL;
    }
    return PyGreenlet_Throw((PyGreenlet*)g, typ, ARG(val), ARG(tb));
}

static PyObject*
probe_switch(PyObject* mod, PyObject* args)
{
    PyObject* g;
    PyObject* a;
    PyObject* kw;
    if (!PyArg_ParseTuple(args, "OOO", &g, &a, &kw)) {
        return NULL;
    }
    return PyGreenlet_Switch((PyGreenlet*)g, ARG(a), ARG(kw));
}

/* Returns (return code, exception instance or None). */
static PyObject*
probe_set_parent(PyObject* mod, PyObject* args)
{
    PyObject* g;
    PyObject* p;
    PyObject *t = NULL, *v = NULL, *tb = NULL;
    PyObject* result;
    int rc;
    if (!PyArg_ParseTuple(args, "OO", &g, &p)) {
        return NULL;
    }
    rc = PyGreenlet_SetParent((PyGreenlet*)g, (PyGreenlet*)ARG(p));
    if (rc == 0) {
        if (PyErr_Occurred()) {
            PyErr_SetString(PyExc_SystemError, "rc 0 with an exception set");
            return NULL;
        }
        return Py_BuildValue("(iO)", rc, Py_None);
    }
    if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_SystemError, "rc %d without an exception", rc);
        return NULL;
    }
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    result = Py_BuildValue("(iO)", rc, v ? v : Py_None);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return result;
}

static PyObject*
probe_flags(PyObject* mod, PyObject* g)
{
    int is_main = PyGreenlet_MAIN((PyGreenlet*)g);
    int started, active;
    if (is_main == -1 && PyErr_Occurred()) {
        return NULL;
    }
    started = PyGreenlet_STARTED((PyGreenlet*)g);
    if (started == -1 && PyErr_Occurred()) {
        return NULL;
    }
    active = PyGreenlet_ACTIVE((PyGreenlet*)g);
    if (active == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return Py_BuildValue("(iii)", is_main, started, active);
}

/* Each of the three state queries alone, returning the raw int. */
static PyObject*
probe_flag_rc(PyObject* mod, PyObject* args)
{
    PyObject* g;
    int which;
    int rc;
    PyObject *t = NULL, *v = NULL, *tb = NULL;
    PyObject* result;
    if (!PyArg_ParseTuple(args, "Oi", &g, &which)) {
        return NULL;
    }
    switch (which) {
    case 0: rc = PyGreenlet_MAIN((PyGreenlet*)g); break;
    case 1: rc = PyGreenlet_STARTED((PyGreenlet*)g); break;
    default: rc = PyGreenlet_ACTIVE((PyGreenlet*)g); break;
    }
    if (!PyErr_Occurred()) {
        return Py_BuildValue("(iO)", rc, Py_None);
    }
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    result = Py_BuildValue("(iO)", rc, v ? v : Py_None);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return result;
}

/* Returns the parent, or probe.NULL if the API returned NULL without an
   exception. */
static PyObject*
probe_get_parent(PyObject* mod, PyObject* g)
{
    PyGreenlet* p = PyGreenlet_GetParent((PyGreenlet*)g);
    if (p == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_INCREF(null_marker);
        return null_marker;
    }
    return (PyObject*)p;
}

static PyObject*
probe_get_parent_old_spelling(PyObject* mod, PyObject* g)
{
    PyGreenlet* p = PyGreenlet_GET_PARENT((PyGreenlet*)g);
    if (p == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_INCREF(null_marker);
        return null_marker;
    }
    return (PyObject*)p;
}

/* Call an API many times, dropping the results, to detect refcount
   mistakes from Python. */
static PyObject*
probe_hammer(PyObject* mod, PyObject* g)
{
    int i;
    for (i = 0; i < 1000; i++) {
        PyGreenlet* cur = PyGreenlet_GetCurrent();
        PyGreenlet* par = PyGreenlet_GetParent((PyGreenlet*)g);
        if (!cur) {
            return NULL;
        }
        Py_DECREF(cur);
        if (par) {
            Py_DECREF(par);
        }
        else if (PyErr_Occurred()) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

/* ---- a C subclass with a field of its own --------------------------- */

typedef struct {
    PyGreenlet base;
    long tag;
} CGreenlet;

static PyMemberDef cgreenlet_members[] = {
    {"tag", T_LONG, offsetof(CGreenlet, tag), 0, "a C long stored after the base struct"},
    {NULL}
};

static PyObject*
cgreenlet_raw_tag(PyObject* self, PyObject* unused)
{
    return PyLong_FromLong(((CGreenlet*)self)->tag);
}

static PyObject*
cgreenlet_bump(PyObject* self, PyObject* unused)
{
    ((CGreenlet*)self)->tag += 1;
    return PyLong_FromLong(((CGreenlet*)self)->tag);
}

static PyMethodDef cgreenlet_methods[] = {
    {"raw_tag", cgreenlet_raw_tag, METH_NOARGS, NULL},
    {"bump", cgreenlet_bump, METH_NOARGS, NULL},
    {NULL}
};

static PyTypeObject CGreenlet_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_greenlet_capi_probe.CGreenlet",
    .tp_basicsize = sizeof(CGreenlet),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "greenlet subclass defined in C",
    .tp_members = cgreenlet_members,
    .tp_methods = cgreenlet_methods,
};

static PyObject*
probe_tag_offset(PyObject* mod, PyObject* unused)
{
    return PyLong_FromSize_t(offsetof(CGreenlet, tag));
}

/* Build a CGreenlet entirely from C: instantiate, set the field, and run
   it with PyGreenlet_Switch. */
static PyObject*
probe_make_cgreenlet(PyObject* mod, PyObject* args)
{
    PyObject* run;
    long tag;
    PyObject* g;
    if (!PyArg_ParseTuple(args, "Ol", &run, &tag)) {
        return NULL;
    }
    g = PyObject_CallFunctionObjArgs((PyObject*)&CGreenlet_Type, run, NULL);
    if (!g) {
        return NULL;
    }
    if (!PyGreenlet_Check(g)) {
        Py_DECREF(g);
        PyErr_SetString(PyExc_AssertionError, "not a greenlet");
        return NULL;
    }
    ((CGreenlet*)g)->tag = tag;
    return g;
}

static PyMethodDef probe_methods[] = {
    {"greenlet_type", probe_greenlet_type, METH_NOARGS, NULL},
    {"struct_size", probe_struct_size, METH_NOARGS, NULL},
    {"check", probe_check, METH_O, NULL},
    {"exceptions", probe_exceptions, METH_NOARGS, NULL},
    {"new", probe_new, METH_VARARGS, NULL},
    {"get_current", probe_get_current, METH_NOARGS, NULL},
    {"throw", probe_throw, METH_VARARGS, NULL},
    {"switch", probe_switch, METH_VARARGS, NULL},
    {"set_parent", probe_set_parent, METH_VARARGS, NULL},
    {"flags", probe_flags, METH_O, NULL},
    {"flag_rc", probe_flag_rc, METH_VARARGS, NULL},
    {"get_parent", probe_get_parent, METH_O, NULL},
    {"get_parent_old_spelling", probe_get_parent_old_spelling, METH_O, NULL},
    {"hammer", probe_hammer, METH_O, NULL},
    {"tag_offset", probe_tag_offset, METH_NOARGS, NULL},
    {"make_cgreenlet", probe_make_cgreenlet, METH_VARARGS, NULL},
    {NULL}
};

static struct PyModuleDef probe_module = {
    PyModuleDef_HEAD_INIT,
    "_greenlet_capi_probe",
    NULL,
    -1,
    probe_methods,
};

PyMODINIT_FUNC
PyInit__greenlet_capi_probe(void)
{
    PyObject* m;
    PyGreenlet_Import();
    if (_PyGreenlet_API == NULL) {
        return NULL;
    }
    m = PyModule_Create(&probe_module);
    if (!m) {
        return NULL;
    }
#ifdef Py_GIL_DISABLED
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    null_marker = PyObject_CallObject((PyObject*)&PyBaseObject_Type, NULL);
    if (!null_marker) {
        return NULL;
    }
    Py_INCREF(null_marker);
    if (PyModule_AddObject(m, "NULL", null_marker) < 0) {
        return NULL;
    }
    CGreenlet_Type.tp_base = &PyGreenlet_Type;
    CGreenlet_Type.tp_new = PyGreenlet_Type.tp_new;
    if (PyType_Ready(&CGreenlet_Type) < 0) {
        return NULL;
    }
    Py_INCREF(&CGreenlet_Type);
    if (PyModule_AddObject(m, "CGreenlet", (PyObject*)&CGreenlet_Type) < 0) {
        return NULL;
    }
    return m;
}
"""


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
        pytest.skip("no C compiler available")
    py_include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(py_include, "Python.h")):
        pytest.skip("Python development headers are not installed")
    greenlet_include = os.path.dirname(os.path.abspath(greenlet.__file__))
    assert os.path.exists(os.path.join(greenlet_include, "greenlet.h")), \
        "greenlet.h must be installed inside the greenlet package"

    build = tmp_path_factory.mktemp("capi")
    src = build / (MODULE_NAME + ".c")
    src.write_text(C_SOURCE)
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = build / (MODULE_NAME + suffix)
    cmd = argv + [
        "-shared", "-fPIC", "-O1", "-Wall",
        "-I" + py_include, "-I" + greenlet_include,
        str(src), "-o", str(target),
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
    with pytest.raises(AttributeError):
        g.run
    with pytest.raises(AttributeError):
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
    with pytest.raises(TypeError):
        probe.new(lambda: None, object())
    with pytest.raises(TypeError):
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
    with pytest.raises(IndexError):
        probe.throw(g, IndexError, probe.NULL, probe.NULL)
    assert ran == []
    assert g.dead


def test_throw_rejects_non_exception_and_non_greenlet(probe):
    g = suspended_greenlet()
    with pytest.raises(TypeError):
        probe.throw(g, 42, probe.NULL, probe.NULL)
    assert not g.dead
    with pytest.raises(TypeError):
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
    with pytest.raises(TypeError):
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
    with pytest.raises(TypeError):
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
    with pytest.raises(ZeroDivisionError):
        failed.switch()
    assert probe.flags(failed) == (0, 1, 0)
    killed = suspended_greenlet()
    killed.throw()
    assert probe.flags(killed) == (0, 1, 0)
    never_ran = greenlet.greenlet(lambda: None)
    with pytest.raises(KeyError):
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
    with pytest.raises(TypeError):
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
        with pytest.raises(greenlet.error) as info:
            probe.switch(box["child"], probe.NULL, probe.NULL)
        assert str(info.value).startswith("Cannot switch to a different thread")
        with pytest.raises(greenlet.error):
            probe.throw(box["child"], KeyError, probe.NULL, probe.NULL)
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
    source = r'''
import gc, importlib.util, os, sys
spec = importlib.util.spec_from_file_location(%(name)r, %(path)r)
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
                say("%%s: %%r" %% (label, check()))
            except Exception as e:
                say("%%s: %%s: %%s" %% (label, type(e).__name__, e))

gc.disable()
late = Late()
late.cycle = late
del late
say("main finished")
''' % {"name": probe.__name__, "path": probe.__file__}
    env = dict(os.environ)
    home = os.path.dirname(os.path.dirname(os.path.abspath(greenlet.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (home, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-c", source], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "main finished"
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
