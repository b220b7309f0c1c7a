import CPythonShim

/// Objects the module creates once at import and keeps for the life of the process.
/// Plain globals with constant initial values, so reading them needs no lazy-init check.
enum ModuleGlobals {
    nonisolated(unsafe) static var greenletExit: PyRef? = nil
    nonisolated(unsafe) static var error: PyRef? = nil
    nonisolated(unsafe) static var emptyTuple: PyRef? = nil
    nonisolated(unsafe) static var strRun: PyRef? = nil
    nonisolated(unsafe) static var eventSwitch: PyRef? = nil
    nonisolated(unsafe) static var eventThrow: PyRef? = nil

    static func initialize() -> Bool {
        greenletExit = PyErr_NewExceptionWithDoc(
            cString("greenlet.GreenletExit"),
            cString("Raised in a greenlet to kill it; the greenlet's parent receives it as a value."),
            PyExc_BaseException, nil)
        error = PyErr_NewExceptionWithDoc(
            cString("greenlet.error"), cString("Raised for greenlet switches that cannot happen."),
            nil, nil)
        emptyTuple = PyTuple_New(0)
        strRun = PyUnicode_InternFromString(cString("run"))
        eventSwitch = PyUnicode_InternFromString(cString("switch"))
        eventThrow = PyUnicode_InternFromString(cString("throw"))
        return greenletExit != nil && error != nil && emptyTuple != nil && strRun != nil
            && eventSwitch != nil && eventThrow != nil
    }
}
