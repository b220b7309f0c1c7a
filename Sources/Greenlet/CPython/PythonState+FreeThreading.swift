import CPythonShim

// Free-threaded CPython (3.13t and later): the per-switch state that exists because there is
// no GIL, and the one fact the rest of the module asks about it.

/// Whether this build runs without the GIL (`PY_GIL_DISABLED`, set by tools/swift_flags.py
/// for a free-threaded interpreter).
enum FreeThreading {
    #if PY_GIL_DISABLED
    static let isEnabled = true
    #else
    static let isEnabled = false
    #endif
}

/// The part of a greenlet's thread state that only matters without the GIL.
///
/// - Critical sections (3.13+): per-object locks that C code holds on this greenlet's C
///   stack. A greenlet that switches away holding one would keep other greenlets of the
///   thread, and other threads, waiting for a lock that nothing will release until it runs
///   again; worse, the next critical section taken would link to one whose node lies in
///   another greenlet's stack. So they are suspended (unlocked, kept on the greenlet's list)
///   at switch-out and taken again at switch-in, as CPython does when a thread detaches.
///   With the GIL, nothing takes them and the field stays 0.
/// - C-stack references (3.14t+): objects that C code keeps alive through nodes on its own
///   C stack, which the collector walks from the thread state. The list is per greenlet,
///   and a new greenlet starts with none. While the greenlet is suspended its nodes may be
///   overwritten, so its objects are kept (and shown to the collector) through a snapshot.
struct FreeThreadedState {
    #if PY_GE_3_13
    /// The thread's `critical_section` when the greenlet switched away (a tagged pointer;
    /// suspended), or 0.
    var criticalSection: UInt = 0
    #endif
    #if PY_GE_3_14 && PY_GIL_DISABLED
    /// The head of the greenlet's C-stack reference list while it is suspended.
    var cStackRefs: UnsafeMutableRawPointer? = nil
    /// New references to the objects of that list, taken at switch-out (a PyMem array).
    var snapshot: UnsafeMutablePointer<PyRef?>? = nil
    var snapshotCount = 0
    #endif

    /// At switch-out, after everything else is captured.
    @inline(__always)
    mutating func capture(from ts: PyThreadStateRef) {
        #if PY_GE_3_14 && PY_GIL_DISABLED
        cStackRefs = gl_c_stack_refs_get(ts)
        if cStackRefs != nil { takeSnapshot() }
        #endif
        #if PY_GE_3_13
        if ts.pointee.critical_section != 0 { gl_critical_sections_suspend(ts) }
        criticalSection = ts.pointee.critical_section
        #endif
    }

    /// At switch-in, last: taking critical sections again may block and let other threads
    /// (and a stop-the-world collection) run, so the rest of the state must be in place.
    @inline(__always)
    mutating func install(into ts: PyThreadStateRef) {
        #if PY_GE_3_14 && PY_GIL_DISABLED
        gl_c_stack_refs_set(ts, cStackRefs)
        cStackRefs = nil
        dropSnapshot()
        #endif
        #if PY_GE_3_13
        ts.pointee.critical_section = criticalSection
        let held = criticalSection
        criticalSection = 0
        if held != 0 { gl_critical_sections_resume(ts) }
        #endif
    }

    /// A new greenlet holds no critical section and no C-stack reference.
    @inline(__always)
    mutating func prepareStart() {
        self = FreeThreadedState()
    }

    /// A greenlet that will never run again: its critical sections died with its stack.
    mutating func discard() {
        #if PY_GE_3_14 && PY_GIL_DISABLED
        dropSnapshot()
        cStackRefs = nil
        #endif
        #if PY_GE_3_13
        criticalSection = 0
        #endif
    }

    /// Visits the objects the greenlet's C code keeps alive while it is suspended.
    func traverse(_ visit: visitproc, _ arg: UnsafeMutableRawPointer?) -> Int32 {
        #if PY_GE_3_14 && PY_GIL_DISABLED
        guard let snapshot else { return 0 }
        for index in 0..<snapshotCount {
            if let object = snapshot[index] {
                let result = visit(object, arg)
                if result != 0 { return result }
            }
        }
        #endif
        return 0
    }

    #if PY_GE_3_14 && PY_GIL_DISABLED
    private mutating func takeSnapshot() {
        let count = gl_c_stack_refs_snapshot(cStackRefs, nil, 0)
        guard count > 0 else { return }
        guard let storage = PyMem_Malloc(count * MemoryLayout<PyRef?>.stride) else { return }
        let objects = storage.bindMemory(to: PyRef?.self, capacity: count)
        snapshotCount = gl_c_stack_refs_snapshot(cStackRefs, objects, count)
        assert(snapshotCount == count, "the list cannot change while its greenlet switches")
        snapshot = objects
    }

    private mutating func dropSnapshot() {
        guard let objects = snapshot else { return }
        let count = snapshotCount
        snapshot = nil
        snapshotCount = 0
        for index in 0..<count { release(objects[index]) }
        PyMem_Free(objects)
    }
    #endif
}
