/*
 * A probe of greenlet's C API, compiled by test_capi.py at test time.
 *
 * It is built as the extension module _greenlet_capi_probe against the
 * greenlet.h installed inside the greenlet package under test, and exposes
 * every entry of the _PyGreenlet_API table to Python, plus CGreenlet: a
 * greenlet subclass written in C with a field of its own (the way gevent's
 * compiled Greenlet extends the type).
 *
 * It must compile without warnings under -Wall -Werror on every supported
 * Python version, against upstream's greenlet.h and this project's alike.
 */

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

/* ---- switch hooks (beyond upstream: the capsule greenlet._C_API_EXT) --

   Upstream's greenlet.h has no PyGreenlet_ImportExt: there, these functions
   exist but raise NotImplementedError. The extension table is imported on
   first use, not at module init, so that the probe imports against upstream
   too. */

#define PROBE_INDEXED_HOOKS 32

static long counting_hook_calls = 0;
/* Compared by identity only, never dereferenced. */
static void* counting_hook_last_origin = NULL;
static void* counting_hook_last_target = NULL;
static int counting_hook_target_was_current = 1;
static unsigned long counting_hook_last_thread = 0;
static long indexed_hook_calls[PROBE_INDEXED_HOOKS];

#ifdef PyGreenlet_API_EXT_pointers

static int
probe_import_ext(void)
{
    if (_PyGreenlet_API_EXT == NULL) {
        PyGreenlet_ImportExt();
    }
    return _PyGreenlet_API_EXT == NULL ? -1 : 0;
}

static void
counting_hook(PyGreenlet* origin, PyGreenlet* target, void* arg)
{
    PyGreenlet* current;
    (*(long*)arg)++;
    counting_hook_last_origin = origin;
    counting_hook_last_target = target;
    counting_hook_last_thread = PyThread_get_thread_ident();
    current = PyGreenlet_GetCurrent();
    if (current == NULL) {
        PyErr_Clear();
        counting_hook_target_was_current = 0;
        return;
    }
    if (current != target) {
        counting_hook_target_was_current = 0;
    }
    Py_DECREF(current);
}

static void
indexed_hook(PyGreenlet* origin, PyGreenlet* target, void* arg)
{
    indexed_hook_calls[(Py_ssize_t)arg]++;
}

/* Turns the return code of an Add/Remove call into a Python result, checking
   that an exception is set exactly when it failed. */
static PyObject*
probe_hook_result(int rc)
{
    if (rc == 0) {
        if (PyErr_Occurred()) {
            PyErr_SetString(PyExc_SystemError, "rc 0 with an exception set");
            return NULL;
        }
        Py_RETURN_NONE;
    }
    if (rc != -1) {
        PyErr_Format(PyExc_SystemError, "unexpected rc %d", rc);
        return NULL;
    }
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_SystemError, "rc -1 without an exception");
    }
    return NULL;
}

static PyObject*
probe_add_counting_hook(PyObject* mod, PyObject* unused)
{
    if (probe_import_ext() < 0) {
        return NULL;
    }
    return probe_hook_result(PyGreenlet_AddSwitchHook(counting_hook, &counting_hook_calls));
}

static PyObject*
probe_remove_counting_hook(PyObject* mod, PyObject* unused)
{
    if (probe_import_ext() < 0) {
        return NULL;
    }
    return probe_hook_result(PyGreenlet_RemoveSwitchHook(counting_hook, &counting_hook_calls));
}

static PyObject*
probe_add_null_hook(PyObject* mod, PyObject* unused)
{
    if (probe_import_ext() < 0) {
        return NULL;
    }
    return probe_hook_result(PyGreenlet_AddSwitchHook(NULL, &counting_hook_calls));
}

static int
probe_hook_index(PyObject* arg, Py_ssize_t* index)
{
    *index = PyLong_AsSsize_t(arg);
    if (*index == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (*index < 0 || *index >= PROBE_INDEXED_HOOKS) {
        PyErr_SetString(PyExc_IndexError, "hook index out of range");
        return -1;
    }
    return probe_import_ext();
}

static PyObject*
probe_add_indexed_hook(PyObject* mod, PyObject* arg)
{
    Py_ssize_t index;
    if (probe_hook_index(arg, &index) < 0) {
        return NULL;
    }
    return probe_hook_result(PyGreenlet_AddSwitchHook(indexed_hook, (void*)index));
}

static PyObject*
probe_remove_indexed_hook(PyObject* mod, PyObject* arg)
{
    Py_ssize_t index;
    if (probe_hook_index(arg, &index) < 0) {
        return NULL;
    }
    return probe_hook_result(PyGreenlet_RemoveSwitchHook(indexed_hook, (void*)index));
}

#else /* upstream's greenlet.h */

static PyObject*
probe_no_ext(void)
{
    PyErr_SetString(PyExc_NotImplementedError,
                    "this greenlet.h has no PyGreenlet_ImportExt (upstream greenlet)");
    return NULL;
}

static PyObject*
probe_add_counting_hook(PyObject* mod, PyObject* unused) { return probe_no_ext(); }
static PyObject*
probe_remove_counting_hook(PyObject* mod, PyObject* unused) { return probe_no_ext(); }
static PyObject*
probe_add_null_hook(PyObject* mod, PyObject* unused) { return probe_no_ext(); }
static PyObject*
probe_add_indexed_hook(PyObject* mod, PyObject* arg) { return probe_no_ext(); }
static PyObject*
probe_remove_indexed_hook(PyObject* mod, PyObject* arg) { return probe_no_ext(); }

#endif /* PyGreenlet_API_EXT_pointers */

/* (calls, target was current at every call, thread id of the last call). */
static PyObject*
probe_hook_calls(PyObject* mod, PyObject* unused)
{
    return Py_BuildValue("(lOk)", counting_hook_calls,
                         counting_hook_target_was_current ? Py_True : Py_False,
                         counting_hook_last_thread);
}

static PyObject*
probe_reset_hook_calls(PyObject* mod, PyObject* unused)
{
    int i;
    counting_hook_calls = 0;
    counting_hook_last_origin = NULL;
    counting_hook_last_target = NULL;
    counting_hook_target_was_current = 1;
    counting_hook_last_thread = 0;
    for (i = 0; i < PROBE_INDEXED_HOOKS; i++) {
        indexed_hook_calls[i] = 0;
    }
    Py_RETURN_NONE;
}

static PyObject*
probe_last_target_is(PyObject* mod, PyObject* obj)
{
    return PyBool_FromLong((void*)obj == counting_hook_last_target);
}

static PyObject*
probe_last_origin_is(PyObject* mod, PyObject* obj)
{
    return PyBool_FromLong((void*)obj == counting_hook_last_origin);
}

static PyObject*
probe_indexed_hook_calls(PyObject* mod, PyObject* unused)
{
    int i;
    PyObject* list = PyList_New(PROBE_INDEXED_HOOKS);
    if (!list) {
        return NULL;
    }
    for (i = 0; i < PROBE_INDEXED_HOOKS; i++) {
        PyObject* n = PyLong_FromLong(indexed_hook_calls[i]);
        if (!n) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, n);
    }
    return list;
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
    {"add_counting_hook", probe_add_counting_hook, METH_NOARGS, NULL},
    {"remove_counting_hook", probe_remove_counting_hook, METH_NOARGS, NULL},
    {"add_null_hook", probe_add_null_hook, METH_NOARGS, NULL},
    {"add_indexed_hook", probe_add_indexed_hook, METH_O, NULL},
    {"remove_indexed_hook", probe_remove_indexed_hook, METH_O, NULL},
    {"hook_calls", probe_hook_calls, METH_NOARGS, NULL},
    {"reset_hook_calls", probe_reset_hook_calls, METH_NOARGS, NULL},
    {"last_target_is", probe_last_target_is, METH_O, NULL},
    {"last_origin_is", probe_last_origin_is, METH_O, NULL},
    {"indexed_hook_calls", probe_indexed_hook_calls, METH_NOARGS, NULL},
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
