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
