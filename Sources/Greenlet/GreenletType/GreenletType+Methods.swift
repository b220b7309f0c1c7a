import CPythonShim

/// `switch`, `throw`, `__getstate__`, `__init__`, `repr` and truth of greenlet objects.
enum Methods {
    typealias FastCall = @convention(c) (PyRef?, UnsafePointer<PyRef?>?, Py_ssize_t, PyRef?) -> PyRef?

    /// `g.switch(*args, **kwargs)`, called with CPython's vectorcall convention: no tuple is
    /// built for the common single argument.
    static let switchMethod: FastCall = { object, arguments, count, keywordNames in
        let positional = count
        let keywordCount = keywordNames.map { gl_tuple_size($0) } ?? 0
        var carried = SwitchArgs()
        if keywordCount == 0 && positional == 1 {
            carried.single = arguments![0]!.newReference()
        } else {
            guard let tuple = PyTuple_New(positional) else { return nil }
            for index in 0..<positional { gl_tuple_set(tuple, index, arguments![index]!.newReference()) }
            carried.args = tuple
            if let keywordNames, keywordCount > 0 {
                guard let dict = PyDict_New() else { tuple.decref(); return nil }
                for index in 0..<keywordCount {
                    if PyDict_SetItem(dict, gl_tuple_item(keywordNames, index), arguments![positional + index]!) != 0 {
                        tuple.decref()
                        dict.decref()
                        return nil
                    }
                }
                carried.kwargs = dict
            }
        }
        return Switch.to(object!.asGreenlet, carrying: carried).result()
    }

    /// `g.throw(typ=GreenletExit, val=None, tb=None)`.
    static let throwMethod: PyCFunction = { object, args in
        var type: PyRef? = ModuleGlobals.greenletExit
        var value: PyRef? = nil
        var traceback: PyRef? = nil
        let count = gl_tuple_size(args!)
        if count <= 3 {
            // The common case, unpacked here; CPython's parser words the errors.
            if count > 0 { type = gl_tuple_item(args!, 0) }
            if count > 1 { value = gl_tuple_item(args!, 1) }
            if count > 2 { traceback = gl_tuple_item(args!, 2) }
        } else {
            guard gl_parse_throw_args(args, &type, &value, &traceback) != 0 else { return nil }
        }
        let greenlet = object!.asGreenlet
        let thread = ThreadState.current()
        guard Switch.checkThread(of: greenlet, from: thread) else { return nil }
        return Throw.into(greenlet, type: type!, value: value, traceback: traceback)
    }

    /// Greenlets hold a live C stack: they cannot be pickled or copied.
    static let getState: PyCFunction = { object, _ in
        return setError(PyExc_TypeError, format: "cannot serialize '%s' object", object!.type.pointee.tp_name ?? cString("?"))
    }

    /// `greenlet.__init__(self, run=None, parent=None)`. Up to two positional arguments are
    /// taken here; anything else goes through CPython's own parser, so that the messages for
    /// bad arguments are the running version's.
    static let initialize: initproc = { object, args, kwargs in
        var run: PyRef? = nil
        var parent: PyRef? = nil
        let count = args.map { gl_tuple_size($0) } ?? 0
        if count <= 2 && (kwargs == nil || PyDict_Size(kwargs) == 0) {
            if count > 0 { run = gl_tuple_item(args!, 0) }
            if count > 1 { parent = gl_tuple_item(args!, 1) }
        } else {
            guard gl_parse_init_args(args, kwargs, &run, &parent) != 0 else { return -1 }
        }
        let greenlet = object!.asGreenlet
        if let run, Attributes.setRun(object, run, nil) != 0 { return -1 }
        if let parent, !parent.isNone, !Attributes.setParent(of: greenlet, to: parent) { return -1 }
        return 0
    }

    static let bool: inquiry = { object in
        let state = object!.asGreenlet.state
        return state.pointee.stack.isActive && !state.ranInDeadThread ? 1 : 0
    }

    /// Upstream's repr: `<greenlet.greenlet object at 0x… (otid=0x…) current active started main>`.
    /// `otid` is the owning thread's state, null for a greenlet that has not started.
    static let repr: reprfunc = { object in
        let greenlet = object!.asGreenlet
        let state = greenlet.state
        let name = object!.type.pointee.tp_name ?? cString("greenlet")
        let otid = Int(bitPattern: (state.pointee.isMain ? greenlet : state.pointee.main)?.state.thread)
        if greenlet.state.isDead {
            let exited = state.ranInDeadThread ? cString("(thread exited) ") : cString("")
            return withVaList([name, Int(bitPattern: object), otid, exited]) {
                PyUnicode_FromFormatV(cString("<%s object at %p (otid=%p) %sdead>"), $0)
            }
        }
        let stack = state.pointee.stack
        let place: StaticString = ThreadState.current().pointee.current == greenlet
            ? " current" : (stack.isStarted ? " suspended" : "")
        let arguments: [CVarArg] = [
            name, Int(bitPattern: object), otid, cString(place),
            cString(stack.isActive ? " active" : ""),
            cString(!stack.isStarted && !stack.isActive ? " pending" : " started"),
            cString(state.pointee.isMain ? " main" : ""),
        ]
        return withVaList(arguments) {
            PyUnicode_FromFormatV(cString("<%s object at %p (otid=%p)%s%s%s%s>"), $0)
        }
    }
}
