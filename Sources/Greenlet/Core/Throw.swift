import CPythonShim

/// `throw(typ, val, tb)`: normalising the exception the way `raise` would, then switching
/// with the exception pending instead of arguments.
enum Throw {
    /// Raises `type`/`value`/`traceback` (borrowed) inside `target`. Returns what the caller
    /// receives when control comes back (new reference), or nil with an exception.
    static func into(_ target: GreenletRef, type: PyRef, value: PyRef?, traceback: PyRef?) -> PyRef? {
        guard setPending(type: type, value: value, traceback: traceback) else { return nil }
        var carried = SwitchArgs()
        let stack = target.state.pointee.stack
        if stack.isStarted && !stack.isActive {
            // Dead: a GreenletExit becomes a plain value for the parent; others stay raised.
            if let value = Exit.parentValue(ofRunResult: nil) { carried = SwitchArgs(single: value) }
        }
        return Switch.to(target, carrying: carried).result()
    }

    /// Checks and normalises the three pieces and sets them as the thread's exception.
    private static func setPending(type: PyRef, value: PyRef?, traceback: PyRef?) -> Bool {
        var traceback = traceback.flatMap { $0.isNone ? nil : $0 }
        if let tb = traceback, gl_is_traceback(tb) == 0 {
            setError(PyExc_TypeError, "throw() third argument must be a traceback object")
            return false
        }
        var type: PyRef? = type.newReference()
        var value = value?.newReference()
        traceback?.incref()
        if gl_is_exception_class(type!) != 0 {
            PyErr_NormalizeException(&type, &value, &traceback)
        } else if gl_is_exception_instance(type!) != 0 {
            if let value, !value.isNone {
                release(type)
                value.decref()
                release(traceback)
                setError(PyExc_TypeError, "instance exception may not have a separate value")
                return false
            }
            release(value)
            value = type
            type = UnsafeMutableRawPointer(value!.type).assumingMemoryBound(to: PyObject.self).newReference()
        } else {
            let name = type!.type.pointee.tp_name
            release(type)
            release(value)
            release(traceback)
            setError(PyExc_TypeError, format: "exceptions must be classes, or instances, not %s", name ?? cString("?"))
            return false
        }
        PyErr_Restore(type, value, traceback)
        return true
    }
}
