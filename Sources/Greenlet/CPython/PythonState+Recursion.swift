import CPythonShim

/// How deep a greenlet's recursion was when it switched away, kept as depths rather than as
/// CPython's "remaining" counters, so that a limit changed meanwhile (`sys.setrecursionlimit`)
/// applies to the greenlet when it resumes.
///
/// - Before 3.11, `recursion_depth`; 3.11, `recursion_limit - recursion_remaining`.
/// - 3.12 and 3.13 count Python and C recursion apart, against two limits.
/// - From 3.14 C recursion is checked by the stack pointer against limits that CPython
///   measured from the thread's stack. Every greenlet of a thread runs at addresses inside
///   that stack (slices are copied back to where they were), so those limits hold for all of
///   them and nothing about C recursion is saved.
struct RecursionDepth {
    var python: Int32 = 0
    #if PY_GE_3_12 && !PY_GE_3_14
    var c: Int32 = 0
    #endif

    @inline(__always)
    mutating func capture(from ts: PyThreadStateRef) {
        #if PY_GE_3_12
        python = ts.pointee.py_recursion_limit - ts.pointee.py_recursion_remaining
        #elseif PY_GE_3_11
        python = ts.pointee.recursion_limit - ts.pointee.recursion_remaining
        #else
        python = ts.pointee.recursion_depth
        #endif
        #if PY_GE_3_12 && !PY_GE_3_14
        c = RecursionDepth.cLimit - ts.pointee.c_recursion_remaining
        #endif
    }

    @inline(__always)
    func install(into ts: PyThreadStateRef) {
        #if PY_GE_3_12
        ts.pointee.py_recursion_remaining = ts.pointee.py_recursion_limit - python
        #elseif PY_GE_3_11
        ts.pointee.recursion_remaining = ts.pointee.recursion_limit - python
        #else
        ts.pointee.recursion_depth = python
        #endif
        #if PY_GE_3_12 && !PY_GE_3_14
        ts.pointee.c_recursion_remaining = RecursionDepth.cLimit - c
        #endif
    }

    /// A new greenlet starts as deep as the greenlet that starts it: it runs below it on
    /// the same stack.
    @inline(__always)
    mutating func prepareStart(from ts: PyThreadStateRef) {
        capture(from: ts)
    }

    #if PY_GE_3_12 && !PY_GE_3_14
    static let cLimit: Int32 = GL_C_RECURSION_LIMIT
    #endif
}
