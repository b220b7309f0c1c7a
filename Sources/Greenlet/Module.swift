import CPythonShim
import StackEngine

/// The module `greenlet._greenlet`: its functions, its exceptions, and the C API capsule.
@_cdecl("PyInit__greenlet")
public func PyInit__greenlet() -> UnsafeMutablePointer<PyObject>? {
    // Stack copies come from Python's allocator, where tracemalloc can see them.
    StackMemory.allocate = { PyMem_Malloc($0) }
    StackMemory.free = { PyMem_Free($0) }
    guard Globals.initialize(), GreenletTypeSetup.prepare(), TestSupport.prepareUnswitchableType(),
          ThreadExit.install() else { return nil }
    let definition = withUnsafeMutablePointer(to: &GreenletModuleDef) { $0 }
    definition.pointee.m_name = cString("greenlet._greenlet")
    definition.pointee.m_doc = cString("Lightweight in-process coroutines that switch C stacks (core in Swift).")
    definition.pointee.m_size = -1
    definition.pointee.m_methods = GreenletTypeSetup.table([
        PyMethodDef(ml_name: cString("getcurrent"), ml_meth: ModuleFunctions.getCurrent, ml_flags: METH_NOARGS,
                    ml_doc: cString("getcurrent() -> greenlet\n\nReturns the current greenlet (i.e. the one which called this function).\n")),
        PyMethodDef(ml_name: cString("settrace"), ml_meth: ModuleFunctions.setTrace, ml_flags: METH_VARARGS,
                    ml_doc: cString("settrace(callback) -> object\n\nSets a new tracing function and returns the previous one.\n")),
        PyMethodDef(ml_name: cString("gettrace"), ml_meth: ModuleFunctions.getTrace, ml_flags: METH_NOARGS,
                    ml_doc: cString("gettrace() -> object\n\nReturns the currently set tracing function, or None.\n")),
    ] + TestSupport.methods + [PyMethodDef()])
    guard let module = gl_module_create(definition) else { return nil }
    // A switch touches only its own thread's state: importing greenlet leaves the GIL off.
    guard gl_module_declare_no_gil(module) == 0 else { module.decref(); return nil }
    let type = UnsafeMutableRawPointer(GreenletTypeRef).assumingMemoryBound(to: PyObject.self)
    let capsule = CAPI.makeCapsule()
    let entries: [(StaticString, PyRef?)] = [
        ("greenlet", type), ("GreenletExit", Globals.greenletExit), ("error", Globals.error),
        ("_C_API", capsule),
        ("UnswitchableGreenlet", UnsafeMutableRawPointer(withUnsafeMutablePointer(to: &UnswitchableGreenletType) { $0 })
            .assumingMemoryBound(to: PyObject.self)),
        ("GREENLET_USE_GC", gl_true()), ("GREENLET_USE_TRACING", gl_true()),
        ("GREENLET_USE_CONTEXT_VARS", gl_true()), ("GREENLET_USE_STANDARD_THREADING", gl_true()),
    ]
    for (name, value) in entries {
        guard let value, PyModule_AddObjectRef(module, cString(name), value) == 0 else {
            module.decref()
            return nil
        }
    }
    release(capsule)
    guard PyModule_AddIntConstant(module, "CLOCKS_PER_SEC", Int(CLOCKS_PER_SEC)) == 0 else {
        module.decref()
        return nil
    }
    // Frameworks read these as attributes of the type itself (eventlet does).
    let typeDict = GreenletTypeRef.pointee.tp_dict!
    for name in ["getcurrent", "settrace", "gettrace"] {
        guard let function = PyObject_GetAttrString(module, name) else { module.decref(); return nil }
        PyDict_SetItemString(typeDict, name, function)
        function.decref()
    }
    PyDict_SetItemString(typeDict, "GreenletExit", Globals.greenletExit!)
    PyDict_SetItemString(typeDict, "error", Globals.error!)
    PyType_Modified(GreenletTypeRef)
    return module
}

/// The module-level functions.
enum ModuleFunctions {
    static let getCurrent: PyCFunction = { _, _ in
        if interpreterIsFinalizing() { return raise(PyExc_RuntimeError, "greenlet is being finalized") }
        let thread = ThreadState.current()
        thread.runPendingKills()
        return thread.pointee.current.object.newReference()
    }

    static let setTrace: PyCFunction = { _, args in
        var function: PyRef? = nil
        guard gl_parse_one_arg(args, &function) != 0 else { return nil }
        return Tracer.set(function, on: ThreadState.current())
    }

    static let getTrace: PyCFunction = { _, _ in
        (ThreadState.current().pointee.trace ?? gl_none()).newReference()
    }
}
