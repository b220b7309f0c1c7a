/*
 * greenlet.h -- the public C API of the greenlet package.
 *
 * This header is binary compatible with the one shipped by upstream greenlet
 * 3.x: the object layout, the slot numbers of the C API table and the
 * function signatures below must never change, because extensions compiled
 * against upstream's header load this implementation's capsule unmodified.
 *
 * Use from an extension module:
 *
 *     #include "greenlet.h"
 *     ...
 *     PyGreenlet_Import();              // in the module init function
 *     if (_PyGreenlet_API == NULL) { return NULL; }  // ImportError is set
 *     PyGreenlet *current = PyGreenlet_GetCurrent();
 *
 * The implementation itself defines GREENLET_MODULE before including this
 * file; it then gets only the struct and the slot numbers, and may define
 * implementation_ptr_t as a typed pointer of its own.
 */

#ifndef Py_GREENLETOBJECT_H
#define Py_GREENLETOBJECT_H

#include <Python.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kept for old code that tests it; its value is frozen. */
#define GREENLET_VERSION "1.0.0"

/* Clients see the implementation pointer as an opaque void*. */
#ifndef GREENLET_MODULE
#define implementation_ptr_t void*
#endif

/*
 * The greenlet object. Only the first three members are meant for clients
 * (and even those are best left alone); everything else lives behind pimpl.
 * It is 40 bytes on 64-bit CPython builds with the default object header
 * (not free-threaded, no Py_TRACE_REFS).
 */
typedef struct _greenlet {
    PyObject_HEAD
    PyObject* weakreflist;
    PyObject* dict;
    implementation_ptr_t pimpl;
} PyGreenlet;

/* True for greenlet.greenlet and its subclasses; false for NULL. */
#define PyGreenlet_Check(op) ((op) && PyObject_TypeCheck((op), &PyGreenlet_Type))

/*
 * Slot numbers in the void* table published as the capsule
 * "greenlet._C_API". The order is part of the ABI.
 */
#define PyGreenlet_Type_NUM 0
#define PyExc_GreenletError_NUM 1
#define PyExc_GreenletExit_NUM 2
#define PyGreenlet_New_NUM 3
#define PyGreenlet_GetCurrent_NUM 4
#define PyGreenlet_Throw_NUM 5
#define PyGreenlet_Switch_NUM 6
#define PyGreenlet_SetParent_NUM 7
#define PyGreenlet_MAIN_NUM 8
#define PyGreenlet_STARTED_NUM 9
#define PyGreenlet_ACTIVE_NUM 10
#define PyGreenlet_GET_PARENT_NUM 11

/* Number of entries in the table. */
#define PyGreenlet_API_pointers 12

#ifndef GREENLET_MODULE

/*
 * Client side: every macro below reads the table that PyGreenlet_Import()
 * fetched. Each translation unit that includes this header has its own copy
 * of the pointer, so call PyGreenlet_Import() in each one that uses the API
 * (normally there is just the one holding the module init function).
 */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
static void** _PyGreenlet_API = NULL;

/* The type object greenlet.greenlet (an lvalue, so &PyGreenlet_Type works). */
#define PyGreenlet_Type \
    (*(PyTypeObject*)_PyGreenlet_API[PyGreenlet_Type_NUM])

/* greenlet.error */
#define PyExc_GreenletError \
    ((PyObject*)_PyGreenlet_API[PyExc_GreenletError_NUM])

/* greenlet.GreenletExit */
#define PyExc_GreenletExit \
    ((PyObject*)_PyGreenlet_API[PyExc_GreenletExit_NUM])

/*
 * PyGreenlet* PyGreenlet_New(PyObject* run, PyGreenlet* parent)
 * Like greenlet.greenlet(run, parent); parent may be NULL for "the current
 * greenlet". Returns a new reference, or NULL with an exception set.
 */
#define PyGreenlet_New \
    (*(PyGreenlet * (*)(PyObject * run, PyGreenlet * parent)) \
        _PyGreenlet_API[PyGreenlet_New_NUM])

/*
 * PyGreenlet* PyGreenlet_GetCurrent(void)
 * Like greenlet.getcurrent(). Returns a new reference.
 */
#define PyGreenlet_GetCurrent \
    (*(PyGreenlet * (*)(void)) _PyGreenlet_API[PyGreenlet_GetCurrent_NUM])

/*
 * PyObject* PyGreenlet_Throw(PyGreenlet* g, PyObject* typ, PyObject* val,
 *                            PyObject* tb)
 * Like g.throw(typ, val, tb); val and tb may be NULL.
 */
#define PyGreenlet_Throw \
    (*(PyObject * (*)(PyGreenlet * self, PyObject * typ, PyObject * val, \
                      PyObject * tb)) \
        _PyGreenlet_API[PyGreenlet_Throw_NUM])

/*
 * PyObject* PyGreenlet_Switch(PyGreenlet* g, PyObject* args, PyObject* kwargs)
 * Like g.switch(*args, **kwargs); args (a tuple) and kwargs (a dict) may be
 * NULL.
 */
#define PyGreenlet_Switch \
    (*(PyObject * (*)(PyGreenlet * greenlet, PyObject * args, \
                      PyObject * kwargs)) \
        _PyGreenlet_API[PyGreenlet_Switch_NUM])

/*
 * int PyGreenlet_SetParent(PyGreenlet* g, PyGreenlet* new_parent)
 * Like g.parent = new_parent. Returns 0, or -1 with an exception set.
 */
#define PyGreenlet_SetParent \
    (*(int (*)(PyGreenlet * greenlet, PyGreenlet * nparent)) \
        _PyGreenlet_API[PyGreenlet_SetParent_NUM])

/*
 * PyGreenlet* PyGreenlet_GetParent(PyGreenlet* g)
 * Like g.parent. Returns a new reference, or NULL when there is no parent;
 * NULL does not necessarily mean an exception is set.
 */
#define PyGreenlet_GetParent \
    (*(PyGreenlet * (*)(PyGreenlet*)) \
        _PyGreenlet_API[PyGreenlet_GET_PARENT_NUM])

/* Older spelling of PyGreenlet_GetParent; keep it working. */
#define PyGreenlet_GET_PARENT PyGreenlet_GetParent

/* int PyGreenlet_MAIN(PyGreenlet* g): is g the main greenlet of its thread? */
#define PyGreenlet_MAIN \
    (*(int (*)(PyGreenlet*)) _PyGreenlet_API[PyGreenlet_MAIN_NUM])

/* int PyGreenlet_STARTED(PyGreenlet* g): has g ever been switched into? */
#define PyGreenlet_STARTED \
    (*(int (*)(PyGreenlet*)) _PyGreenlet_API[PyGreenlet_STARTED_NUM])

/* int PyGreenlet_ACTIVE(PyGreenlet* g): started and not yet finished? */
#define PyGreenlet_ACTIVE \
    (*(int (*)(PyGreenlet*)) _PyGreenlet_API[PyGreenlet_ACTIVE_NUM])

/*
 * Fetch the API table. The capsule is an attribute of the package itself
 * (greenlet._C_API, re-exported from greenlet._greenlet). On failure
 * _PyGreenlet_API stays NULL and an ImportError (or similar) is set.
 * This expands to a braced block so `PyGreenlet_Import();` is a statement.
 */
#define PyGreenlet_Import() \
    { \
        _PyGreenlet_API = (void**)PyCapsule_Import("greenlet._C_API", 0); \
    }

#endif /* !GREENLET_MODULE */

/*
 * Beyond upstream: a second table, the capsule "greenlet._C_API_EXT". Upstream's
 * twelve slots above never change; new entry points go here, and a later
 * version only appends to this table. Upstream greenlet has no such capsule:
 * PyGreenlet_ImportExt() then leaves _PyGreenlet_API_EXT NULL with an
 * ImportError set, which a profiler can clear and carry on without hooks.
 *
 * A switch hook is called on every switch between greenlets, in the thread
 * that switches, once the target is current: origin is the greenlet that gave
 * up control, target the one that has it now (both borrowed). It runs with the
 * GIL held where there is one, must not switch greenlets, and must not leave
 * an exception set; no Python object is made to call it.
 */
typedef void (*PyGreenlet_SwitchHook)(PyGreenlet *origin, PyGreenlet *target, void *arg);

#define PyGreenlet_AddSwitchHook_NUM 0
#define PyGreenlet_RemoveSwitchHook_NUM 1

/* Number of entries in the extension table. */
#define PyGreenlet_API_EXT_pointers 2

#ifndef GREENLET_MODULE

#if defined(__GNUC__) || defined(__clang__)
__attribute__((unused))
#endif
static void** _PyGreenlet_API_EXT = NULL;

/*
 * int PyGreenlet_AddSwitchHook(PyGreenlet_SwitchHook hook, void *arg)
 * Adds hook, to be called with arg on every switch in every thread. Returns 0,
 * or -1 with an exception set (NULL hook, or too many hooks).
 */
#define PyGreenlet_AddSwitchHook \
    (*(int (*)(PyGreenlet_SwitchHook hook, void *arg)) \
        _PyGreenlet_API_EXT[PyGreenlet_AddSwitchHook_NUM])

/*
 * int PyGreenlet_RemoveSwitchHook(PyGreenlet_SwitchHook hook, void *arg)
 * Removes a hook added with the same hook and arg. Returns 0, or -1 with
 * ValueError set if there is no such hook. A switch under way in another
 * thread may still call it once.
 */
#define PyGreenlet_RemoveSwitchHook \
    (*(int (*)(PyGreenlet_SwitchHook hook, void *arg)) \
        _PyGreenlet_API_EXT[PyGreenlet_RemoveSwitchHook_NUM])

#define PyGreenlet_ImportExt() \
    { \
        _PyGreenlet_API_EXT = (void**)PyCapsule_Import("greenlet._C_API_EXT", 0); \
    }

#endif /* !GREENLET_MODULE */

/*
 * Beyond upstream: where greenlets are, for readers outside the process
 * (profilers, debuggers, `python -m greenlet.dump PID`).
 *
 * The extension module exports one GreenletDebugOffsets, as the data symbol
 * `greenlet_debug_offsets` and as the whole of the ELF section
 * `.greenlet_debug`, in the way CPython exports _Py_DebugOffsets. The module
 * fills it when it is imported: read it from the process's memory, not from
 * the file. Every field is a uint64_t. Offsets are in bytes from the start of
 * the structure named; addresses are in the target process.
 *
 * From the root: `live_threads` holds the address of a pointer to the first
 * thread state (NULL: none). Each thread state gives its thread's id (as
 * threading.get_ident() gives it), the next thread state, and the first
 * greenlet state of its registry of live greenlets (started and not dead, and
 * the main greenlet, first). Each greenlet state gives the next one, its
 * PyGreenlet, its parent (a PyGreenlet), its stack bounds, how many of its
 * stack bytes are saved on the heap, and its innermost Python frame while it
 * is suspended. A greenlet state is reached from a PyGreenlet through pimpl.
 *
 * A greenlet is running if stack_start is 1, suspended if it is another
 * non-zero value (the stack pointer at which it stopped), and not started or
 * finished if it is 0. While suspended, top_frame is its innermost Python
 * frame: an _PyInterpreterFrame (frame_kind 1) whose `previous` links lead to
 * its outermost frame and then NULL, with the frames on the C stack already
 * left out; read them with CPython's own _Py_DebugOffsets. A running
 * greenlet's frames are its thread's (the thread state's current frame).
 *
 * The lists change while the process runs: a reader that does not stop the
 * process may see a torn list, and must bound its walks.
 *
 * Version 1. A later version only appends fields, and says so in `version`;
 * `size` is sizeof the structure the module was built with.
 */
#define GREENLET_DEBUG_OFFSETS_COOKIE "greenlet"
#define GREENLET_DEBUG_OFFSETS_VERSION 1

typedef struct _greenlet_debug_offsets {
    char cookie[8];              /* "greenlet", not NUL-terminated */
    uint64_t version;
    uint64_t size;
    uint64_t python_version_hex; /* PY_VERSION_HEX of the headers built against */
    uint64_t free_threaded;
    /* The root. */
    uint64_t live_threads;       /* address of the pointer to the first thread state */
    struct {
        uint64_t size;
        uint64_t thread_id;      /* unsigned long */
        uint64_t next;           /* thread state pointer, or NULL */
        uint64_t main;           /* PyGreenlet pointer */
        uint64_t current;        /* PyGreenlet pointer: the running greenlet */
        uint64_t registry_first; /* greenlet state pointer, or NULL */
        uint64_t registry_count; /* Py_ssize_t */
    } thread_state;
    struct {
        uint64_t size;
        uint64_t object;         /* PyGreenlet pointer */
        uint64_t registry_next;  /* greenlet state pointer, or NULL */
        uint64_t parent;         /* PyGreenlet pointer, or NULL */
        uint64_t stack_start;    /* void pointer: 0, 1 (running) or the stack pointer */
        uint64_t stack_stop;     /* void pointer */
        uint64_t saved_bytes;    /* Py_ssize_t */
        uint64_t is_main;        /* one byte, 0 or 1 */
        uint64_t switches;       /* Py_ssize_t */
        uint64_t top_frame;      /* frame pointer while suspended, else NULL */
        uint64_t frame_kind;     /* a value, not an offset: 1 _PyInterpreterFrame (3.11+),
                                    2 PyFrameObject (3.10) */
    } greenlet_state;
    uint64_t greenlet_pimpl;     /* offset of pimpl in PyGreenlet */
} GreenletDebugOffsets;

#ifdef __cplusplus
}
#endif

#endif /* !Py_GREENLETOBJECT_H */
