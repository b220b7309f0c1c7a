import CPythonShim

/// How deep a greenlet's recursion was when it switched away, kept as depths rather than as
/// CPython's "remaining" counters, so that a limit changed meanwhile (`sys.setrecursionlimit`)
/// applies to the greenlet when it resumes.
///
/// - Before 3.11, `recursion_depth`; 3.11, `recursion_limit - recursion_remaining`.
/// - 3.12 and 3.13 count Python and C recursion apart, against two limits.
/// - From 3.14 C recursion is checked by the stack pointer against limits that CPython
///   measured from the thread's stack. Every copying greenlet of a thread runs at addresses
///   inside that stack (slices are copied back to where they were), so those limits hold for
///   all of them and nothing about C recursion is saved; a greenlet on a dedicated stack gets
///   limits of its own (`StackLimits`).
///
/// Before 3.14 the limits count levels, sized for a thread's stack of megabytes. A greenlet
/// on a dedicated stack starts with the levels its stack can hold (`budget`): C
/// levels on 3.12 and 3.13; before 3.12, where one counter takes Python calls and C
/// re-entries alike, that counter.
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
    /// the same stack. One that starts on fresh stack memory of `stackBytes` bytes (its
    /// dedicated stack, or the thread's stack below where it is launched) gets no more levels
    /// than those bytes hold: on 3.12 and 3.13 its C depth is set from them alone (the Python
    /// depth is inherited as ever); before 3.12, where one counter counts both, it starts no
    /// shallower than they allow.
    @inline(__always)
    mutating func prepareStart(from ts: PyThreadStateRef, stackBytes: Int?) {
        capture(from: ts)
        guard let stackBytes else { return }
        #if !PY_GE_3_14
        let budget = Int32(clamping: RecursionDepth.budget(stackBytes))
        #if PY_GE_3_12
        c = RecursionDepth.cLimit - Swift.min(budget, RecursionDepth.cLimit)
        #elseif PY_GE_3_11
        python = Swift.max(python, ts.pointee.recursion_limit - Swift.min(budget, ts.pointee.recursion_limit))
        #else
        let limit = Py_GetRecursionLimit()
        python = Swift.max(python, limit - Swift.min(budget, limit))
        #endif
        #endif
    }

    #if !PY_GE_3_14
    /// Stack bytes one recursion level may take, the worst measured here (release builds,
    /// x86-64, a level through `map`, `__getattr__` or `repr`) with half again on top:
    /// 3.10 took up to 806 bytes, 3.11 738, 3.12 709 (per C level), 3.13 about 300.
    #if PY_GE_3_13
    static let bytesPerLevel = 640
    #else
    static let bytesPerLevel = 1280
    #endif
    /// Kept free of counted levels: C code between two checks, and signal handlers.
    static let reserve = 48 * 1024

    /// The recursion levels `size` bytes of stack hold.
    static func budget(_ size: Int) -> Int {
        Swift.max(50, (size - reserve) / bytesPerLevel)
    }
    #endif

    #if PY_GE_3_12 && !PY_GE_3_14
    static let cLimit: Int32 = GL_C_RECURSION_LIMIT
    #endif
}
