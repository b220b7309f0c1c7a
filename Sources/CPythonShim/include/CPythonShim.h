// CPython for Swift: the public and internal headers, the object heads Swift cannot lay out,
// and thin wrappers for the macros Swift cannot import. No logic lives here.
#ifndef GREENLET_CPYTHON_SHIM_H
#define GREENLET_CPYTHON_SHIM_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#if PY_VERSION_HEX >= 0x030B0000
#  define Py_BUILD_CORE 1
#  include "internal/pycore_frame.h"
#  if PY_VERSION_HEX >= 0x030E0000
     /* 3.14 moved the frame's layout out of pycore_frame.h. */
#    include "internal/pycore_interpframe_structs.h"
#  endif
#  undef Py_BUILD_CORE
#endif

/// The greenlet object and the C API's slot numbers come from the public header that C
/// extensions compile against, so there is one definition of the ABI. C code (gevent's
/// compiled modules) subclasses the object and puts its own fields right after it.
#define GREENLET_MODULE 1
#define implementation_ptr_t void *
#include "../../../python/greenlet/greenlet.h"
#undef implementation_ptr_t
typedef PyGreenlet GreenletObject;
_Static_assert(sizeof(PyGreenlet) == sizeof(PyObject) + 3 * sizeof(void *),
               "PyGreenlet is {PyObject_HEAD; weakreflist; dict; pimpl}: 40 bytes on 64-bit GIL builds");
_Static_assert(PyGreenlet_API_pointers == 12, "greenlet._C_API holds 12 pointers, in upstream's order");

/// Static type and module definitions, with only their object heads initialised here; the
/// Swift module fills every other field before PyType_Ready/PyModule_Create.
extern PyTypeObject GreenletType;
extern PyTypeObject UnswitchableGreenletType;
extern PyModuleDef GreenletModuleDef;
/// Their addresses, for Swift: a C global's address is stable, which Swift's
/// `withUnsafeMutablePointer(to:)` would not promise beyond its closure.
static inline PyTypeObject *gl_greenlet_type(void) { return &GreenletType; }
static inline PyTypeObject *gl_unswitchable_type(void) { return &UnswitchableGreenletType; }
static inline PyModuleDef *gl_module_def(void) { return &GreenletModuleDef; }

/// The running thread's greenlet state (owned by Swift). A C thread-local, which Swift cannot
/// declare; setting it also arms the thread-exit hook for this thread.
void *greenlet_thread_state_get(void);
void greenlet_thread_state_set(void *state);

/// The bounds of the running thread's C stack mapping, [*low, *low + *size); 0 on
/// success. glibc clips the main thread's to the mappings around it.
int gl_thread_stack_bounds(uintptr_t *low, uintptr_t *size);

/// `size` bytes of fresh zeroed memory aligned to `size` (a power of two, a multiple of the
/// page size), straight from the kernel; NULL if it refused. For slabs whose cells find their
/// slab by masking their address.
void *gl_map_aligned(size_t size);
/// Gives memory from `gl_map_aligned` back to the kernel.
void gl_unmap(void *address, size_t size);

/// Whether this interpreter's cyclic collector is running (its `collecting` flag). It is
/// set from before the first callback in `gc.callbacks` to after the last.
int gl_collector_is_running(void);

/// Called when a thread that has greenlet state exits, without the GIL. Installed once.
typedef void (*greenlet_thread_exit_fn)(void *state);
int greenlet_install_thread_exit_hook(greenlet_thread_exit_fn hook);

/// Argument parsing done by CPython itself, so that its error messages follow the running
/// version's wording (users match on them). Swift cannot call C variadic functions.
/// Each returns 1 on success and 0 with an exception set; the objects are borrowed.
int gl_parse_init_args(PyObject *args, PyObject *kwargs, PyObject **run, PyObject **parent);
int gl_parse_throw_args(PyObject *args, PyObject **type, PyObject **value, PyObject **traceback);
int gl_parse_one_arg(PyObject *args, PyObject **arg);
int gl_parse_two_args(PyObject *args, const char *name, PyObject **first, PyObject **second);
/// `set_stack_mode(mode, stack_size=None)`: a str, and anything.
int gl_parse_stack_mode_args(PyObject *args, PyObject *kwargs, PyObject **mode, PyObject **size);
/// `(first, second)` as a tuple of two ints.
PyObject *gl_build_pair(Py_ssize_t first, Py_ssize_t second);
/// One optional argument, positional or by `keyword`; `format` is e.g. "|O:enumerate".
int gl_parse_optional_arg(PyObject *args, PyObject *kwargs, const char *format, const char *keyword,
                          PyObject **arg);

#if PY_VERSION_HEX >= 0x030F0000
/// A suspended greenlet's interpreter frame, for the collector (3.15 exports what this needs):
/// visits what the frame holds, as CPython visits a generator's frame.
int gl_frame_traverse(struct _PyInterpreterFrame *frame, visitproc visit, void *arg);
/// Drops what a frame that will never run again holds. A frame object that outlives it
/// takes over a copy, as when CPython pops a frame.
void gl_frame_clear(struct _PyInterpreterFrame *frame);
#endif

/// Free-threaded builds. Every one of these is also defined, as a no-op, where the GIL
/// serializes threads, so that Swift code calls them unconditionally.
///
/// Critical sections: the object's per-object lock where there is no GIL.
#ifdef Py_GIL_DISABLED
typedef PyCriticalSection GLCriticalSection;
#else
typedef struct { void *unused; } GLCriticalSection;
#endif
static inline void gl_critical_section_begin(GLCriticalSection *section, PyObject *object) {
#ifdef Py_GIL_DISABLED
    PyCriticalSection_Begin(section, object);
#else
    (void)section; (void)object;
#endif
}
static inline void gl_critical_section_end(GLCriticalSection *section) {
#ifdef Py_GIL_DISABLED
    PyCriticalSection_End(section);
#else
    (void)section;
#endif
}
/// Says that the module needs no GIL, so that importing it leaves the GIL off.
static inline int gl_module_declare_no_gil(PyObject *module) {
#ifdef Py_GIL_DISABLED
    return PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED);
#else
    (void)module;
    return 0;
#endif
}
/// Releases the critical sections the thread holds (they stay on its list), and takes them
/// again: what CPython does around detaching a thread state, done around a switch.
void gl_critical_sections_suspend(PyThreadState *tstate);
void gl_critical_sections_resume(PyThreadState *tstate);

/// `getenv`, for the GREENLET_* variables read at import (`-E` is for PYTHON* ones).
const char *gl_getenv(const char *name);

#if PY_VERSION_HEX >= 0x030E0000
/// A thread state's C stack limits (3.14+): CPython checks the stack pointer against them.
typedef struct { uintptr_t top, soft, hard; } GLStackLimits;
void gl_stack_limits_get(PyThreadState *tstate, GLStackLimits *limits);
void gl_stack_limits_set(PyThreadState *tstate, const GLStackLimits *limits);
/// The limits CPython would give a thread whose stack is `[base, top)`.
void gl_stack_limits_for(uintptr_t base, uintptr_t top, GLStackLimits *limits);
#endif

#if defined(Py_GIL_DISABLED) && PY_VERSION_HEX >= 0x030E0000
/// The thread's list of references held by C code (3.14t+). Its nodes live on the C stack
/// of the code that holds them, so the list is per greenlet.
void *gl_c_stack_refs_get(PyThreadState *tstate);
void gl_c_stack_refs_set(PyThreadState *tstate, void *refs);
/// Stores new references to the objects of the list that starts at `refs` into `out`, up to
/// `capacity`; returns how many there are (more than `capacity` means: call again, bigger).
Py_ssize_t gl_c_stack_refs_snapshot(void *refs, PyObject **out, Py_ssize_t capacity);
#endif

/// Atomic access for the few fields that other threads read or write. On x86-64 and AArch64
/// these compile to plain loads and stores (acquire/release) or one locked add.
static inline void *gl_atomic_load_pointer(void *const *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void gl_atomic_store_pointer(void **p, void *v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline Py_ssize_t gl_atomic_load_size(const Py_ssize_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline Py_ssize_t gl_atomic_add_size(Py_ssize_t *p, Py_ssize_t v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline void gl_atomic_store_size(Py_ssize_t *p, Py_ssize_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/// A spin lock that locks on every build, for state that CPython may reach without the GIL
/// even on a GIL build (it frees a thread state's data stack in `PyThreadState_Delete`,
/// which needs no GIL). Held for a few pointer writes.
static inline void gl_spin_lock_always(int *word) {
    while (__atomic_exchange_n(word, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(word, __ATOMIC_RELAXED)) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#elif defined(__aarch64__)
            __asm__ __volatile__("yield");
#endif
        }
    }
}
static inline void gl_spin_unlock_always(int *word) { __atomic_store_n(word, 0, __ATOMIC_RELEASE); }
/// A lock for the short lists that other threads read on a free-threaded build (a thread's
/// live greenlets). Held for a few pointer writes, or while a reader takes references, so it
/// spins. With the GIL there is nothing to lock: these do nothing.
static inline void gl_spin_lock(int *word) {
#ifdef Py_GIL_DISABLED
    gl_spin_lock_always(word);
#else
    (void)word;
#endif
}
static inline void gl_spin_unlock(int *word) {
#ifdef Py_GIL_DISABLED
    gl_spin_unlock_always(word);
#else
    (void)word;
#endif
}
/// Takes a new reference to `op` unless its count has reached zero (it is being
/// deallocated); 1 if it took one. Free-threaded builds need CPython's own way to do this,
/// and there it works only on objects passed to `gl_allow_try_incref` first.
int gl_try_incref(PyObject *op);
/// Lets other threads use `gl_try_incref` on `op` (free-threaded builds: CPython's
/// "maybe weakref" mark, which makes the last decref check for such references).
void gl_allow_try_incref(PyObject *op);
/// The switch hooks of `PyGreenlet_AddSwitchHook`: a table that Swift builds and swaps
/// whole, read on every switch, or NULL. A C global, read with no lazy initialisation.
extern void *gl_switch_hooks;
static inline void *gl_switch_hooks_get(void) { return __atomic_load_n(&gl_switch_hooks, __ATOMIC_ACQUIRE); }
static inline void gl_switch_hooks_set(void *table) { __atomic_store_n(&gl_switch_hooks, table, __ATOMIC_RELEASE); }
/// The first thread state of `LiveThreads` (Swift's), or NULL: a C global, so that the
/// offsets table can give readers outside the process its address.
extern void *gl_live_threads;
/// The table of `greenlet.h` for readers outside the process; the module fills it at import.
extern GreenletDebugOffsets greenlet_debug_offsets;
static inline GreenletDebugOffsets *gl_debug_offsets(void) { return &greenlet_debug_offsets; }
static inline void **gl_live_threads_root(void) { return &gl_live_threads; }
/// CLOCK_MONOTONIC in nanoseconds, for the opt-in run-time accounting.
int64_t gl_monotonic_ns(void);
/// When run-time accounting was turned on (`gl_monotonic_ns`), or 0 while it is off. Every
/// switch reads it, so it is a C global: Swift reads it with no lazy initialisation.
extern int64_t gl_accounting_since;
static inline int64_t gl_accounting_since_get(void) { return __atomic_load_n(&gl_accounting_since, __ATOMIC_RELAXED); }
static inline void gl_accounting_since_set(int64_t v) { __atomic_store_n(&gl_accounting_since, v, __ATOMIC_RELAXED); }

static const unsigned long GL_TPFLAGS_GREENLET =
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC;
static const int GL_METH_FASTCALL_KEYWORDS = METH_FASTCALL | METH_KEYWORDS;

#if PY_VERSION_HEX >= 0x030E0000
/* 3.14 checks C recursion by the stack pointer: there is no C recursion limit. */
#elif PY_VERSION_HEX >= 0x030D0000
static const int GL_C_RECURSION_LIMIT = Py_C_RECURSION_LIMIT;
#elif PY_VERSION_HEX >= 0x030C0000
static const int GL_C_RECURSION_LIMIT = C_RECURSION_LIMIT;
#endif

static inline void gl_incref(PyObject *o) { Py_INCREF(o); }
static inline void gl_decref(PyObject *o) { Py_DECREF(o); }
static inline Py_ssize_t gl_refcnt(PyObject *o) { return Py_REFCNT(o); }
static inline void gl_set_refcnt(PyObject *o, Py_ssize_t n) { Py_SET_REFCNT(o, n); }
static inline PyTypeObject *gl_type(PyObject *o) { return Py_TYPE(o); }
static inline PyObject *gl_none(void) { return Py_None; }
static inline PyObject *gl_true(void) { return Py_True; }
static inline PyObject *gl_false(void) { return Py_False; }

static inline int gl_is_exception_class(PyObject *o) { return PyExceptionClass_Check(o); }
static inline int gl_is_exception_instance(PyObject *o) { return PyExceptionInstance_Check(o); }
static inline int gl_is_traceback(PyObject *o) { return PyTraceBack_Check(o); }
static inline int gl_is_context(PyObject *o) { return PyContext_CheckExact(o); }
static inline int gl_is_dict(PyObject *o) { return PyDict_Check(o); }
static inline int gl_is_int(PyObject *o) { return PyLong_Check(o); }
static inline int gl_is_tuple(PyObject *o) { return PyTuple_Check(o); }
static inline int gl_type_check(PyObject *o, PyTypeObject *t) { return PyObject_TypeCheck(o, t); }

static inline Py_ssize_t gl_tuple_size(PyObject *t) { return PyTuple_GET_SIZE(t); }
static inline PyObject *gl_tuple_item(PyObject *t, Py_ssize_t i) { return PyTuple_GET_ITEM(t, i); }
static inline void gl_tuple_set(PyObject *t, Py_ssize_t i, PyObject *v) { PyTuple_SET_ITEM(t, i, v); }

static inline PyObject *gl_module_create(PyModuleDef *def) { return PyModule_Create(def); }

#endif
