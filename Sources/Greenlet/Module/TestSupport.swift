import CPythonShim

/// Functions and a type that exist for greenlet's own test suites (upstream's imports them
/// from `greenlet._greenlet`), plus the optional cleanup switch.
enum TestSupport {

    static var methods: [PyMethodDef] {
        [
            PyMethodDef(ml_name: cString("get_pending_cleanup_count"), ml_meth: pendingCleanupCount,
                        ml_flags: METH_NOARGS, ml_doc: cString("get_pending_cleanup_count() -> Integer\n\nGet the number of greenlet cleanup operations pending. Testing only.\n")),
            PyMethodDef(ml_name: cString("get_total_main_greenlets"), ml_meth: totalMainGreenlets,
                        ml_flags: METH_NOARGS, ml_doc: cString("get_total_main_greenlets() -> Integer\n\nQuickly return the number of main greenlets that exist. Testing only.\n")),
            PyMethodDef(ml_name: cString("set_thread_local"), ml_meth: setThreadLocal,
                        ml_flags: METH_VARARGS, ml_doc: cString("set_thread_local(key, value) -> None\n\nSet a value in the current thread-local dictionary. Debugging only.\n")),
            PyMethodDef(ml_name: cString("enable_optional_cleanup"), ml_meth: enableOptionalCleanup,
                        ml_flags: METH_O, ml_doc: cString("enable_optional_cleanup(bool) -> None\n\nEnable or disable optional cleanup operations.\n")),
            PyMethodDef(ml_name: cString("get_clocks_used_doing_optional_cleanup"), ml_meth: clocksUsed,
                        ml_flags: METH_NOARGS, ml_doc: cString("get_clocks_used_doing_optional_cleanup() -> Integer\n\nProcessor clocks spent looking for greenlets leaked by exited threads; None if disabled.\n")),
        ] + trashMethods
    }

    /// Only where CPython still has a trashcan nesting counter (before 3.13).
    private static var trashMethods: [PyMethodDef] {
        guard TrashState.nesting(currentThreadState()) != nil else { return [] }
        return [PyMethodDef(ml_name: cString("get_tstate_trash_delete_nesting"), ml_meth: trashNesting,
                            ml_flags: METH_NOARGS, ml_doc: cString("Return the 'trash can' nesting level. Testing only.\n"))]
    }

    static let pendingCleanupCount: PyCFunction = { _, _ in PyLong_FromSsize_t(ThreadExit.pendingCleanupCount) }
    static let totalMainGreenlets: PyCFunction = { _, _ in PyLong_FromSsize_t(GreenletState.liveMainGreenlets.value) }

    static let setThreadLocal: PyCFunction = { _, args in
        var key: PyRef? = nil, value: PyRef? = nil
        guard gl_parse_two_args(args, cString("set_thread_local"), &key, &value) != 0 else { return nil }
        guard PyDict_SetItem(PyThreadState_GetDict(), key, value) == 0 else { return nil }
        return newNone()
    }

    static let enableOptionalCleanup: PyCFunction = { _, flag in
        let enabled = PyObject_IsTrue(flag)
        if enabled < 0 { return nil }
        ThreadExit.optionalCleanup.setEnabled(enabled != 0)
        return newNone()
    }

    static let clocksUsed: PyCFunction = { _, _ in
        let cleanup = ThreadExit.optionalCleanup
        return cleanup.isEnabled ? PyLong_FromSsize_t(cleanup.clocks.value) : newNone()
    }

    static let trashNesting: PyCFunction = { _, _ in
        PyLong_FromSsize_t(TrashState.nesting(currentThreadState()) ?? 0)
    }

    /// `UnswitchableGreenlet`: a greenlet whose switches can be made to fail, to test the
    /// failure paths.
    static func prepareUnswitchableType() -> Bool {
        let type: UnsafeMutablePointer<PyTypeObject> = gl_unswitchable_type()
        type.pointee.tp_name = cString("greenlet._greenlet.UnswitchableGreenlet")
        type.pointee.tp_basicsize = MemoryLayout<GreenletObject>.size
        type.pointee.tp_flags = GL_TPFLAGS_GREENLET
        type.pointee.tp_base = greenletType
        type.pointee.tp_traverse = Lifecycle.traverse
        type.pointee.tp_clear = Lifecycle.clear
        GreenletType.installCollectorSlots(type)
        type.pointee.tp_getset = staticTable([
            PyGetSetDef(name: cString("force_switch_error"), get: getForceSwitchError,
                        set: setForceSwitchError, doc: nil, closure: nil),
            PyGetSetDef(name: cString("force_slp_switch_error"), get: getForceStackSwitchError,
                        set: setForceStackSwitchError, doc: nil, closure: nil),
            PyGetSetDef(),
        ])
        return PyType_Ready(type) == 0
    }

    static let getForceSwitchError: getter = { object, _ in
        (object!.asGreenlet.state.pointee.forceSwitchError ? gl_true() : gl_false()).newReference()
    }
    static let setForceSwitchError: setter = { object, value, _ in
        guard let flag = truth(value) else { return -1 }
        object!.asGreenlet.state.pointee.forceSwitchError = flag
        return 0
    }
    static let getForceStackSwitchError: getter = { object, _ in
        (object!.asGreenlet.state.pointee.forceStackSwitchError ? gl_true() : gl_false()).newReference()
    }
    static let setForceStackSwitchError: setter = { object, value, _ in
        guard let flag = truth(value) else { return -1 }
        object!.asGreenlet.state.pointee.forceStackSwitchError = flag
        return 0
    }

    private static func truth(_ value: PyRef?) -> Bool? {
        guard let value else {
            setError(PyExc_AttributeError, "can't delete attribute")
            return nil
        }
        let truth = PyObject_IsTrue(value)
        return truth < 0 ? nil : truth == 1
    }
}
