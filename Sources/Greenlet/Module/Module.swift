import CPythonShim
import StackEngine

/// The module `greenlet._greenlet`: its functions, its exceptions, and the C API capsule.
@_cdecl("PyInit__greenlet")
public func PyInit__greenlet() -> UnsafeMutablePointer<PyObject>? {
    // Stack copies come from Python's allocator, where tracemalloc can see them.
    StackMemory.allocate = { PyMem_Malloc($0) }
    StackMemory.free = { PyMem_Free($0) }
    guard ModuleGlobals.initialize(), GreenletType.prepare(), TestSupport.prepareUnswitchableType(),
          ThreadExit.install(), StackMode.readEnvironment() else { return nil }
    DebugOffsets.fill()
    DataStackChunkCache.install()
    let definition: UnsafeMutablePointer<PyModuleDef> = gl_module_def()
    definition.pointee.m_name = cString("greenlet._greenlet")
    definition.pointee.m_doc = cString("Lightweight in-process coroutines that switch C stacks (core in Swift).")
    definition.pointee.m_size = -1
    definition.pointee.m_methods = staticTable([
        PyMethodDef(ml_name: cString("getcurrent"), ml_meth: ModuleFunctions.getCurrent, ml_flags: METH_NOARGS,
                    ml_doc: cString("getcurrent() -> greenlet\n\nReturns the current greenlet (i.e. the one which called this function).\n")),
        PyMethodDef(ml_name: cString("settrace"), ml_meth: ModuleFunctions.setTrace, ml_flags: METH_VARARGS,
                    ml_doc: cString("settrace(callback) -> object\n\nSets a new tracing function and returns the previous one.\n")),
        PyMethodDef(ml_name: cString("gettrace"), ml_meth: ModuleFunctions.getTrace, ml_flags: METH_NOARGS,
                    ml_doc: cString("gettrace() -> object\n\nReturns the currently set tracing function, or None.\n")),
    ] + Introspection.methods + StackMode.methods + TestSupport.methods + [PyMethodDef()])
    guard let module = gl_module_create(definition) else { return nil }
    let capsule = CAPI.makeCapsule()
    let extensionCapsule = CAPI.makeExtensionCapsule()
    defer { release(capsule); release(extensionCapsule) }
    guard populate(module, capsule: capsule, extensionCapsule: extensionCapsule) else {
        module.decref()
        return nil
    }
    return module
}

/// Fills the new module, and the type's dict with the names frameworks read from the type;
/// false, with the exception set, at the first failure.
///
/// The module is single-phase and its types static, as upstream's: C extensions find the
/// type through the capsule's pointer, which must stay the same object for the life of the
/// process, and greenlet keeps per-thread state that no second module instance could share.
private func populate(_ module: PyRef, capsule: PyRef?, extensionCapsule: PyRef?) -> Bool {
    // A switch touches only its own thread's state: importing greenlet leaves the GIL off.
    guard gl_module_declare_no_gil(module) == 0, let capsule, let extensionCapsule else { return false }
    let type = UnsafeMutableRawPointer(greenletType).assumingMemoryBound(to: PyObject.self)
    let unswitchable = UnsafeMutableRawPointer(gl_unswitchable_type()).assumingMemoryBound(to: PyObject.self)
    let entries: [(StaticString, PyRef?)] = [
        ("greenlet", type), ("GreenletExit", ModuleGlobals.greenletExit), ("error", ModuleGlobals.error),
        ("_C_API", capsule), ("_C_API_EXT", extensionCapsule), ("UnswitchableGreenlet", unswitchable),
        ("GREENLET_USE_GC", gl_true()), ("GREENLET_USE_TRACING", gl_true()),
        ("GREENLET_USE_CONTEXT_VARS", gl_true()), ("GREENLET_USE_STANDARD_THREADING", gl_true()),
    ]
    for (name, value) in entries {
        guard let value, PyModule_AddObjectRef(module, cString(name), value) == 0 else { return false }
    }
    guard CollectorCallback.install() else { return false }
    guard PyModule_AddIntConstant(module, "CLOCKS_PER_SEC", Int(CLOCKS_PER_SEC)) == 0 else { return false }
    // Frameworks read these as attributes of the type itself (eventlet does).
    guard let typeDict = greenletType.pointee.tp_dict else { return false }
    for name in ["getcurrent", "settrace", "gettrace"] {
        guard let function = PyObject_GetAttrString(module, name) else { return false }
        defer { function.decref() }
        guard PyDict_SetItemString(typeDict, name, function) == 0 else { return false }
    }
    guard PyDict_SetItemString(typeDict, "GreenletExit", ModuleGlobals.greenletExit!) == 0,
          PyDict_SetItemString(typeDict, "error", ModuleGlobals.error!) == 0 else { return false }
    PyType_Modified(greenletType)
    return true
}

/// The module-level functions.
enum ModuleFunctions {
    static let getCurrent: PyCFunction = { _, _ in
        ThreadState.currentGreenlet()?.object
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
