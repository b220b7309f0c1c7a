import CPythonShim

/// How a greenlet's end is turned into the value its parent receives.
enum Exit {
    /// A `GreenletExit` that ends a greenlet is not an error: the parent receives the
    /// exception instance as a value. Anything else passes through.
    static func parentValue(ofRunResult result: PyRef?) -> PyRef? {
        if result != nil || PyErr_ExceptionMatches(ModuleGlobals.greenletExit) == 0 { return result }
        var type: PyRef? = nil, value: PyRef? = nil, traceback: PyRef? = nil
        PyErr_Fetch(&type, &value, &traceback)
        PyErr_NormalizeException(&type, &value, &traceback)
        release(type)
        release(traceback)
        return value ?? newNone()
    }
}
