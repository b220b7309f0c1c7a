import CPythonShim

/// The thread's pending exception, held aside while Python code runs.
struct PendingException {
    var type: PyRef?
    var value: PyRef?
    var traceback: PyRef?

    static func take() -> PendingException {
        var pending = PendingException()
        PyErr_Fetch(&pending.type, &pending.value, &pending.traceback)
        return pending
    }

    /// Sets it as the thread's exception again (consumes it).
    func restore() { PyErr_Restore(type, value, traceback) }

    func drop() {
        release(type)
        release(value)
        release(traceback)
    }
}
