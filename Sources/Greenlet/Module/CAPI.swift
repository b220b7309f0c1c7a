import CPythonShim

/// The C API: twelve pointers in a capsule named `greenlet._C_API`, in upstream's order,
/// which C extensions (gevent's among them) index by the numbers greenlet.h names.
enum CAPI {
    /// The capsules' pointer tables. Extensions keep the table's address after the capsule is
    /// gone (gevent's modules cache it in a C static), so the tables live for the process,
    /// held here.
    nonisolated(unsafe) private static var table: UnsafeMutablePointer<UnsafeMutableRawPointer?>? = nil
    nonisolated(unsafe) private static var extensionTable: UnsafeMutablePointer<UnsafeMutableRawPointer?>? = nil

    static func makeCapsule() -> PyRef? {
        let slots = table ?? .allocate(capacity: Int(PyGreenlet_API_pointers))
        table = slots
        func fill(_ slot: Int32, _ pointer: UnsafeMutableRawPointer?) { slots[Int(slot)] = pointer }
        fill(PyGreenlet_Type_NUM, UnsafeMutableRawPointer(greenletType))
        fill(PyExc_GreenletError_NUM, UnsafeMutableRawPointer(ModuleGlobals.error))
        fill(PyExc_GreenletExit_NUM, UnsafeMutableRawPointer(ModuleGlobals.greenletExit))
        fill(PyGreenlet_New_NUM, unsafeBitCast(new, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_GetCurrent_NUM, unsafeBitCast(getCurrent, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_Throw_NUM, unsafeBitCast(throwInto, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_Switch_NUM, unsafeBitCast(switchTo, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_SetParent_NUM, unsafeBitCast(setParent, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_MAIN_NUM, unsafeBitCast(isMain, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_STARTED_NUM, unsafeBitCast(isStarted, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_ACTIVE_NUM, unsafeBitCast(isActive, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_GET_PARENT_NUM, unsafeBitCast(getParent, to: UnsafeMutableRawPointer.self))
        return PyCapsule_New(slots, cString("greenlet._C_API"), nil)
    }

    /// Beyond upstream: the capsule `greenlet._C_API_EXT`, in the order greenlet.h numbers it.
    static func makeExtensionCapsule() -> PyRef? {
        let slots = extensionTable ?? .allocate(capacity: Int(PyGreenlet_API_EXT_pointers))
        extensionTable = slots
        func fill(_ slot: Int32, _ pointer: UnsafeMutableRawPointer?) { slots[Int(slot)] = pointer }
        fill(PyGreenlet_AddSwitchHook_NUM, unsafeBitCast(addSwitchHook, to: UnsafeMutableRawPointer.self))
        fill(PyGreenlet_RemoveSwitchHook_NUM, unsafeBitCast(removeSwitchHook, to: UnsafeMutableRawPointer.self))
        return PyCapsule_New(slots, cString("greenlet._C_API_EXT"), nil)
    }

    static let addSwitchHook: @convention(c) (PyGreenlet_SwitchHook?, UnsafeMutableRawPointer?) -> Int32 = {
        SwitchHooks.add($0, $1)
    }

    static let removeSwitchHook: @convention(c) (PyGreenlet_SwitchHook?, UnsafeMutableRawPointer?) -> Int32 = {
        SwitchHooks.remove($0, $1)
    }

    /// NULL or not a greenlet: `PyErr_BadArgument`, as upstream.
    private static func checked(_ object: GreenletRef?) -> GreenletRef? {
        guard let object, object.object.isGreenlet else {
            PyErr_BadArgument()
            return nil
        }
        return object
    }

    static let new: @convention(c) (PyRef?, GreenletRef?) -> GreenletRef? = { run, parent in
        let type = greenletType
        guard let object = Lifecycle.new(type, ModuleGlobals.emptyTuple, nil) else { return nil }
        guard let kwargs = PyDict_New() else { object.decref(); return nil }
        if let run { PyDict_SetItemString(kwargs, "run", run) }
        if let parent { PyDict_SetItemString(kwargs, "parent", parent.object) }
        let status = Methods.initialize(object, ModuleGlobals.emptyTuple, kwargs)
        kwargs.decref()
        if status != 0 { object.decref(); return nil }
        return object.asGreenlet
    }

    static let getCurrent: @convention(c) () -> GreenletRef? = {
        ThreadState.currentGreenlet()
    }

    static let throwInto: @convention(c) (GreenletRef?, PyRef?, PyRef?, PyRef?) -> PyRef? = { greenlet, type, value, traceback in
        guard let greenlet = checked(greenlet) else { return nil }
        guard let type else { return setError(PyExc_TypeError, "exceptions must be classes, or instances, not NULL") }
        return Throw.into(greenlet, type: type, value: value, traceback: traceback)
    }

    static let switchTo: @convention(c) (GreenletRef?, PyRef?, PyRef?) -> PyRef? = { greenlet, args, kwargs in
        guard let greenlet = checked(greenlet) else { return nil }
        let dict = kwargs.flatMap { gl_is_dict($0) != 0 ? $0.newReference() : nil }
        let tuple = (args ?? ModuleGlobals.emptyTuple!).newReference()
        return Switch.to(greenlet, carrying: SwitchArgs(args: tuple, kwargs: dict)).result()
    }

    static let setParent: @convention(c) (GreenletRef?, GreenletRef?) -> Int32 = { greenlet, parent in
        guard let greenlet = checked(greenlet) else { return -1 }
        return Attributes.setParent(of: greenlet, to: parent?.object) ? 0 : -1
    }

    static let isMain: @convention(c) (GreenletRef?) -> Int32 = { greenlet in
        guard let greenlet = checked(greenlet) else { return -1 }
        return greenlet.state.pointee.isMain ? 1 : 0
    }

    static let isStarted: @convention(c) (GreenletRef?) -> Int32 = { greenlet in
        guard let greenlet = checked(greenlet) else { return -1 }
        return greenlet.state.pointee.stack.isStarted ? 1 : 0
    }

    static let isActive: @convention(c) (GreenletRef?) -> Int32 = { greenlet in
        guard let greenlet = checked(greenlet) else { return -1 }
        return greenlet.state.pointee.stack.isActive ? 1 : 0
    }

    static let getParent: @convention(c) (GreenletRef?) -> GreenletRef? = { greenlet in
        guard let greenlet = checked(greenlet) else { return nil }
        return greenlet.state.pointee.parent.map { $0.object.newReference().asGreenlet }
    }
}
