#include "CPythonShim.h"

#ifdef Py_GIL_DISABLED
#  define Py_BUILD_CORE 1
#  include "internal/pycore_object.h"
#  include "internal/pycore_critical_section.h"
#  if PY_VERSION_HEX >= 0x030E0000
#    include "internal/pycore_tstate.h"
#    include "internal/pycore_stackref.h"
#  endif
#  undef Py_BUILD_CORE
#endif

#if PY_VERSION_HEX >= 0x030F0000
/* Only this file sees these: the stack reference helpers are inline functions and macros
   that Swift cannot import, and their headers drag in more than Swift's importer takes. */
#  define Py_BUILD_CORE 1
#  include "internal/pycore_gc.h"
#  include "internal/pycore_interpframe.h"
#  include "internal/pycore_stackref.h"
#  undef Py_BUILD_CORE
#endif

#if PY_VERSION_HEX >= 0x030E0000 && !defined(Py_GIL_DISABLED)
#  define Py_BUILD_CORE 1
#  include "internal/pycore_tstate.h"
#  undef Py_BUILD_CORE
#endif
#if PY_VERSION_HEX >= 0x030E0000
#  define Py_BUILD_CORE 1
#  include "internal/pycore_pythonrun.h"
#  undef Py_BUILD_CORE
#endif

PyTypeObject GreenletType = { PyVarObject_HEAD_INIT(NULL, 0) };
PyTypeObject UnswitchableGreenletType = { PyVarObject_HEAD_INIT(NULL, 0) };
PyModuleDef GreenletModuleDef = { PyModuleDef_HEAD_INIT };

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int gl_try_incref(PyObject *op)
{
#ifdef Py_GIL_DISABLED
    return _Py_TryIncref(op);
#else
    if (Py_REFCNT(op) == 0) return 0;
    Py_INCREF(op);
    return 1;
#endif
}

void gl_allow_try_incref(PyObject *op)
{
#ifdef Py_GIL_DISABLED
    _PyObject_SetMaybeWeakref(op);
#else
    (void)op;
#endif
}

void *gl_live_threads = NULL;

/* Exported by name and as its own ELF section, as CPython exports _Py_DebugOffsets, so that
   a reader finds it from the symbol table or the section headers of the loaded file. */
__attribute__((section(".greenlet_debug"), used, visibility("default")))
GreenletDebugOffsets greenlet_debug_offsets = {
    .cookie = {'g', 'r', 'e', 'e', 'n', 'l', 'e', 't'},
    .version = GREENLET_DEBUG_OFFSETS_VERSION,
    .size = sizeof(GreenletDebugOffsets),
    .python_version_hex = PY_VERSION_HEX,
#ifdef Py_GIL_DISABLED
    .free_threaded = 1,
#endif
};

int64_t gl_accounting_since = 0;
void *gl_switch_hooks = NULL;

int64_t gl_monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static _Thread_local void *thread_state;
static pthread_key_t exit_key;
static greenlet_thread_exit_fn exit_hook;

static void thread_exiting(void *state)
{
    thread_state = NULL;
    if (state && exit_hook) exit_hook(state);
}

int greenlet_install_thread_exit_hook(greenlet_thread_exit_fn hook)
{
    exit_hook = hook;
    return pthread_key_create(&exit_key, thread_exiting);
}

void *greenlet_thread_state_get(void) { return thread_state; }

int gl_thread_stack_bounds(uintptr_t *low, uintptr_t *size)
{
    pthread_attr_t attr;
    void *address = NULL;
    size_t bytes = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) {
        return -1;
    }
    int failed = pthread_attr_getstack(&attr, &address, &bytes);
    pthread_attr_destroy(&attr);
    if (failed || address == NULL || bytes == 0) {
        return -1;
    }
    *low = (uintptr_t)address;
    *size = (uintptr_t)bytes;
    return 0;
}

void *gl_map_aligned(size_t size)
{
    // Twice the size, then the unaligned ends are given back.
    size_t span = 2 * size;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        return NULL;
    }
    char *aligned = (char *)(((uintptr_t)raw + size - 1) & ~(uintptr_t)(size - 1));
    if (aligned > raw) {
        munmap(raw, (size_t)(aligned - raw));
    }
    char *end = aligned + size;
    if (raw + span > end) {
        munmap(end, (size_t)(raw + span - end));
    }
    return aligned;
}

void gl_unmap(void *address, size_t size)
{
    munmap(address, size);
}

void greenlet_thread_state_set(void *state)
{
    thread_state = state;
    pthread_setspecific(exit_key, state);
}

int gl_parse_init_args(PyObject *args, PyObject *kwargs, PyObject **run, PyObject **parent)
{
    static char *keywords[] = {"run", "parent", NULL};
    return PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:green", keywords, run, parent);
}

int gl_parse_throw_args(PyObject *args, PyObject **type, PyObject **value, PyObject **traceback)
{
    return PyArg_ParseTuple(args, "|OOO:throw", type, value, traceback);
}

int gl_parse_one_arg(PyObject *args, PyObject **arg)
{
    return PyArg_ParseTuple(args, "O", arg);
}

int gl_parse_two_args(PyObject *args, const char *name, PyObject **first, PyObject **second)
{
    return PyArg_UnpackTuple(args, name, 2, 2, first, second);
}

PyObject *gl_build_pair(Py_ssize_t first, Py_ssize_t second)
{
    return Py_BuildValue("(nn)", first, second);
}

int gl_parse_stack_mode_args(PyObject *args, PyObject *kwargs, PyObject **mode, PyObject **size)
{
    static char *keywords[] = {"mode", "stack_size", NULL};
    return PyArg_ParseTupleAndKeywords(args, kwargs, "U|O:set_stack_mode", keywords, mode, size);
}

int gl_parse_optional_arg(PyObject *args, PyObject *kwargs, const char *format, const char *keyword,
                          PyObject **arg)
{
    char *keywords[] = {(char *)keyword, NULL};
    return PyArg_ParseTupleAndKeywords(args, kwargs, format, keywords, arg);
}

#if PY_VERSION_HEX >= 0x030F0000
int gl_frame_traverse(struct _PyInterpreterFrame *frame, visitproc visit, void *arg)
{
    Py_VISIT(frame->frame_obj);
    Py_VISIT(frame->f_locals);
    _Py_VISIT_STACKREF(frame->f_funcobj);
    _Py_VISIT_STACKREF(frame->f_executable);
    return _PyGC_VisitFrameStack(frame, visit, arg);
}

void gl_frame_clear(struct _PyInterpreterFrame *frame)
{
    _PyFrame_ClearExceptCode(frame);
    PyStackRef_CLEAR(frame->f_executable);
}
#endif

void gl_critical_sections_suspend(PyThreadState *tstate)
{
#ifdef Py_GIL_DISABLED
    _PyCriticalSection_SuspendAll(tstate);
#else
    (void)tstate;
#endif
}

void gl_critical_sections_resume(PyThreadState *tstate)
{
#ifdef Py_GIL_DISABLED
    _PyCriticalSection_Resume(tstate);
#else
    (void)tstate;
#endif
}

#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX >= 0x030E0000
void *gl_c_stack_refs_get(PyThreadState *tstate)
{
    return ((_PyThreadStateImpl *)tstate)->c_stack_refs;
}

void gl_c_stack_refs_set(PyThreadState *tstate, void *refs)
{
    ((_PyThreadStateImpl *)tstate)->c_stack_refs = (struct _PyCStackRef *)refs;
}

Py_ssize_t gl_c_stack_refs_snapshot(void *refs, PyObject **out, Py_ssize_t capacity)
{
    Py_ssize_t count = 0;
    for (_PyCStackRef *node = (_PyCStackRef *)refs; node != NULL; node = node->next) {
        if (PyStackRef_IsNullOrInt(node->ref)) {
            continue;
        }
        if (count < capacity) {
            out[count] = Py_NewRef(PyStackRef_AsPyObjectBorrow(node->ref));
        }
        count++;
    }
    return count;
}
#endif

const char *gl_getenv(const char *name)
{
    return getenv(name);
}

#if PY_VERSION_HEX >= 0x030E0000
void gl_stack_limits_get(PyThreadState *tstate, GLStackLimits *limits)
{
    _PyThreadStateImpl *impl = (_PyThreadStateImpl *)tstate;
    limits->top = impl->c_stack_top;
    limits->soft = impl->c_stack_soft_limit;
    limits->hard = impl->c_stack_hard_limit;
}

void gl_stack_limits_set(PyThreadState *tstate, const GLStackLimits *limits)
{
    _PyThreadStateImpl *impl = (_PyThreadStateImpl *)tstate;
    impl->c_stack_top = limits->top;
    impl->c_stack_soft_limit = limits->soft;
    impl->c_stack_hard_limit = limits->hard;
}

void gl_stack_limits_for(uintptr_t base, uintptr_t top, GLStackLimits *limits)
{
    /* As CPython's own tstate_set_stack lays them out for a thread's stack. */
    limits->top = top;
    limits->hard = base + _PyOS_STACK_MARGIN_BYTES;
    limits->soft = base + 2 * _PyOS_STACK_MARGIN_BYTES;
}
#endif
