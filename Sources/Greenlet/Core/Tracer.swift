import CPythonShim

/// The greenlet trace function (`greenlet.settrace`): told of every switch and throw.
enum Tracer {
    /// Calls `trace(event, (origin, target))` with any pending exception kept aside. If the
    /// trace function raises, it is removed and its exception replaces the pending one;
    /// returns false then.
    static func call(
        _ trace: PyRef, _ event: PyRef, origin: GreenletRef, target: GreenletRef,
        thread: UnsafeMutablePointer<ThreadState>
    ) -> Bool {
        let pending = PendingException.take()
        trace.incref()  // it may replace itself
        let ts = currentThreadState()
        CPythonTracing.enter(ts)
        var outcome: PyRef? = nil
        if let pair = PyTuple_New(2) {
            gl_tuple_set(pair, 0, origin.object.newReference())
            gl_tuple_set(pair, 1, target.object.newReference())
            var arguments: (PyRef?, PyRef?) = (event, pair)
            outcome = withUnsafePointer(to: &arguments) {
                $0.withMemoryRebound(to: PyRef?.self, capacity: 2) { PyObject_Vectorcall(trace, $0, 2, nil) }
            }
            pair.decref()
        }
        CPythonTracing.leave(ts)
        trace.decref()
        guard let outcome else {
            pending.drop()
            set(nil, on: thread).decref()
            return false
        }
        outcome.decref()
        pending.restore()
        return true
    }

    /// Replaces the thread's trace function (`None` or nil removes it); returns the old one
    /// as a new reference, or None.
    static func set(_ function: PyRef?, on thread: UnsafeMutablePointer<ThreadState>) -> PyRef {
        let old = thread.pointee.trace
        thread.pointee.trace = function.flatMap { $0.isNone ? nil : $0.newReference() }
        return old ?? newNone()
    }
}

extension Tracer {
    /// The trace function that threads get when their greenlet state is created
    /// (`settrace_all`), owned; nil for none. Read and written under `ThreadExit`'s lock.
    nonisolated(unsafe) private(set) static var forNewThreads: PyRef? = nil

    /// `settrace_all`: makes `function` (nil: none) the trace function of every thread that
    /// has greenlet state, and of those that get it later. Returns None.
    ///
    /// Other threads read their trace function on every switch, holding no lock. With the
    /// GIL they cannot be inside a switch now, so their old functions are released. Without
    /// it, one of them may be about to call its old function, so each thread keeps its old
    /// ones until it exits (a tool sets this once or twice, not per request).
    static func setForAllThreads(_ function: PyRef?) -> PyRef {
        let here = ThreadState.current()
        var replaced: [PyRef] = []
        // First the function for threads to come (`LiveThreads.add` reads it under the same
        // lock), then every listed thread: a thread created in between gets it either way.
        ThreadExit.withLock {
            if let previous = forNewThreads { replaced.append(previous) }
            forNewThreads = function?.newReference()
        }
        LiveThreads.forEachLocked { thread in
            let old = thread.pointee.trace
            thread.pointee.trace = function?.newReference()
            if let old {
                if thread == here || !FreeThreading.isEnabled {
                    replaced.append(old)
                } else {
                    thread.pointee.retiredTraces.append(old)
                }
            }
        }
        // Released once the lock is let go: a release may run Python code.
        replaced.forEach { $0.decref() }
        return newNone()
    }
}
