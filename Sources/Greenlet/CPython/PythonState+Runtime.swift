import CPythonShim

// Interpreter-wide facts and calls whose spelling differs between CPython versions.

/// Enters and leaves CPython's "tracing" state around a call of the greenlet trace function,
/// so the function's own frames are not traced.
enum CPythonTracing {
    static func enter(_ ts: PyThreadStateRef) {
        #if PY_GE_3_11
        PyThreadState_EnterTracing(ts)
        #else
        ts.pointee.tracing += 1
        ts.pointee.cframe.pointee.use_tracing = 0
        #endif
    }

    static func leave(_ ts: PyThreadStateRef) {
        #if PY_GE_3_11
        PyThreadState_LeaveTracing(ts)
        #else
        ts.pointee.tracing -= 1
        ts.pointee.cframe.pointee.use_tracing =
            (ts.pointee.c_tracefunc != nil || ts.pointee.c_profilefunc != nil) ? 1 : 0
        #endif
    }
}

/// The greenlet's part of CPython's trashcan, which frees deeply nested objects later
/// instead of recursing in C.
///
/// - Before 3.13 the trashcan counts its nesting, per greenlet like any recursion depth.
/// - 3.13 decides by the C recursion counter, which is per greenlet, so the objects it put
///   aside (`delete_later`) follow the greenlet too, as upstream keeps them.
/// - From 3.14 `_Py_Dealloc` decides by the real stack pointer and keeps nothing else. The
///   list stays with the thread: any greenlet of the thread that has room frees it, and a
///   greenlet that finishes can strand nothing.
struct TrashState {
    #if PY_GE_3_13 && !PY_GE_3_14
    /// Objects the trashcan deferred while this greenlet ran (owned by the trashcan).
    var later: PyRef? = nil
    #elseif !PY_GE_3_13
    var nesting: Int32 = 0
    #endif

    @inline(__always)
    mutating func capture(from ts: PyThreadStateRef) {
        #if PY_GE_3_13 && !PY_GE_3_14
        later = ts.pointee.delete_later
        ts.pointee.delete_later = nil
        #elseif PY_GE_3_12 && !PY_GE_3_13
        nesting = ts.pointee.trash.delete_nesting
        #elseif !PY_GE_3_12
        nesting = ts.pointee.trash_delete_nesting
        #endif
    }

    @inline(__always)
    mutating func install(into ts: PyThreadStateRef) {
        #if PY_GE_3_13 && !PY_GE_3_14
        ts.pointee.delete_later = later
        later = nil
        #elseif PY_GE_3_12 && !PY_GE_3_13
        ts.pointee.trash.delete_nesting = nesting
        #elseif !PY_GE_3_12
        ts.pointee.trash_delete_nesting = nesting
        #endif
    }

    /// The thread's nesting counter, which upstream's tests read
    /// (`get_tstate_trash_delete_nesting`); nil from 3.13, which has none.
    static func nesting(_ ts: PyThreadStateRef) -> Int? {
        #if PY_GE_3_13
        return nil
        #elseif PY_GE_3_12
        return Int(ts.pointee.trash.delete_nesting)
        #else
        return Int(ts.pointee.trash_delete_nesting)
        #endif
    }
}

/// True once the interpreter has begun finalizing (after atexit callbacks): greenlet then
/// refuses new work instead of touching a half torn-down interpreter.
@inline(__always) func interpreterIsFinalizing() -> Bool {
    #if PY_GE_3_13
    return Py_IsFinalizing() != 0
    #else
    return _Py_IsFinalizing() != 0
    #endif
}

/// The running thread's CPython state.
@inline(__always) func currentThreadState() -> PyThreadStateRef { PyThreadState_Get() }
