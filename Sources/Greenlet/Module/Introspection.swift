import CPythonShim

/// The module functions that look inside: `enumerate`, `enumerate_all`, `stats`,
/// `set_accounting`, `set_context_inheritance` and `settrace_all`. Nothing here is on the
/// switch path; each reads the registries of `Core/Registry.swift`.
enum Introspection {
    static var methods: [PyMethodDef] {
        [
            PyMethodDef(ml_name: cString("enumerate"),
                        ml_meth: unsafeBitCast(enumerate, to: PyCFunction.self),
                        ml_flags: METH_VARARGS | METH_KEYWORDS,
                        ml_doc: cString("""
                            enumerate(thread=None) -> list

                            The live greenlets of a thread (default: the calling one), its main \
                            greenlet first: those started and not dead, plus the main greenlet. \
                            `thread` is a thread id or a threading.Thread. A thread that has \
                            exited or never used greenlets has none.
                            """)),
            PyMethodDef(ml_name: cString("enumerate_all"), ml_meth: enumerateAll, ml_flags: METH_NOARGS,
                        ml_doc: cString("""
                            enumerate_all() -> dict

                            For every thread that uses greenlets, its id mapped to \
                            enumerate(thread).
                            """)),
            PyMethodDef(ml_name: cString("_running_greenlets"), ml_meth: runningGreenlets, ml_flags: METH_NOARGS,
                        ml_doc: cString("""
                            _running_greenlets() -> dict

                            For every thread that uses greenlets, its id mapped to the greenlet                             running in it (for format_stacks).
                            """)),
            PyMethodDef(ml_name: cString("stats"), ml_meth: stats, ml_flags: METH_NOARGS,
                        ml_doc: cString("""
                            stats() -> dict

                            For every thread that uses greenlets, its id mapped to a dict: \
                            switches, bytes_copied and run_ns summed over its greenlets, dead \
                            ones included; stack_saved_max, their largest; live, how many are \
                            live; created, how many were created in it; heap_bytes, the heap its \
                            live greenlets hold for stack copies; dedicated_stacks_refused, how \
                            many asked for a dedicated stack and got none (they run on the \
                            thread's stack); dedicated_stacks_pooled, stacks kept for reuse.
                            """)),
            PyMethodDef(ml_name: cString("set_accounting"), ml_meth: setAccounting, ml_flags: METH_O,
                        ml_doc: cString("""
                            set_accounting(enabled) -> None

                            Turns run-time accounting (gr_run_ns) on or off, for every thread. \
                            While on, every switch reads a clock.
                            """)),
            PyMethodDef(ml_name: cString("set_context_inheritance"), ml_meth: setContextInheritance,
                        ml_flags: METH_O,
                        ml_doc: cString("""
                            set_context_inheritance(enabled) -> None

                            While on (process-wide; off by default, as upstream), a new greenlet \
                            runs in a copy of the contextvars context current where it was \
                            created, as an asyncio task does. Setting gr_context still wins.
                            """)),
            PyMethodDef(ml_name: cString("settrace_all"), ml_meth: setTraceAll, ml_flags: METH_O,
                        ml_doc: cString("""
                            settrace_all(callback) -> None

                            Sets callback (or None) as the greenlet trace function of every \
                            thread, those that use greenlets now and those that start later.
                            """)),
        ]
    }

    // MARK: Live greenlets

    private static let enumerate: PyCFunctionWithKeywords = { _, args, kwargs in
        var argument: PyRef? = nil
        guard gl_parse_optional_arg(args, kwargs, "|O:enumerate", "thread", &argument) != 0 else { return nil }
        let here = ThreadState.current()
        let wanted: UInt
        if let argument, !argument.isNone {
            guard let id = threadID(of: argument) else { return nil }
            wanted = id
        } else {
            wanted = here.pointee.threadID
        }
        var refs: [GreenletRef] = []
        if wanted == here.pointee.threadID {
            refs = here.registry.takeReferences()
        } else {
            LiveThreads.forEachLocked { thread in
                if thread.pointee.threadID == wanted { refs = thread.registry.takeReferences() }
            }
        }
        return makeList(refs)
    }

    private static let enumerateAll: PyCFunction = { _, _ in
        _ = ThreadState.current()  // the calling thread is listed, with its main greenlet
        var threads: [(UInt, [GreenletRef])] = []
        LiveThreads.forEachLocked { thread in
            threads.append((thread.pointee.threadID, thread.registry.takeReferences()))
        }
        guard let dict = PyDict_New() else {
            threads.forEach { $0.1.forEach { $0.object.decref() } }
            return nil
        }
        var failed = false
        for (id, refs) in threads {
            if failed {
                refs.forEach { $0.object.decref() }
                continue
            }
            guard let list = makeList(refs) else {  // it dropped the references
                failed = true
                continue
            }
            failed = !setItem(dict, key: id, value: list)
        }
        if failed {
            dict.decref()
            return nil
        }
        return dict
    }

    private static let runningGreenlets: PyCFunction = { _, _ in
        _ = ThreadState.current()
        var running: [(UInt, GreenletRef)] = []
        LiveThreads.forEachLocked { thread in
            let current = thread.pointee.current
            if gl_try_incref(current.object) != 0 { running.append((thread.pointee.threadID, current)) }
        }
        guard let dict = PyDict_New() else {
            running.forEach { $0.1.object.decref() }
            return nil
        }
        var failed = false
        for (id, greenlet) in running {
            if failed { greenlet.object.decref(); continue }
            failed = !setItem(dict, key: id, value: greenlet.object)
        }
        if failed {
            dict.decref()
            return nil
        }
        return dict
    }

    /// A list that takes over the references in `refs`; on failure they are dropped.
    private static func makeList(_ refs: [GreenletRef]) -> PyRef? {
        guard let list = PyList_New(refs.count) else {
            refs.forEach { $0.object.decref() }
            return nil
        }
        for (index, greenlet) in refs.enumerated() {
            _ = PyList_SetItem(list, index, greenlet.object)  // steals
        }
        return list
    }

    /// `dict[id] = value`, consuming `value`.
    private static func setItem(_ dict: PyRef, key id: UInt, value: PyRef) -> Bool {
        defer { value.decref() }
        guard let key = PyLong_FromUnsignedLong(id) else { return false }
        defer { key.decref() }
        return PyDict_SetItem(dict, key, value) == 0
    }

    /// A thread id from an int, or from an object with an integer `ident` (threading.Thread).
    private static func threadID(of argument: PyRef) -> UInt? {
        var value = argument
        var owned: PyRef? = nil
        if gl_is_int(argument) == 0 {
            guard let ident = PyObject_GetAttrString(argument, "ident"), gl_is_int(ident) != 0 else {
                PyErr_Clear()
                setError(PyExc_TypeError, format: "thread must be a thread id or a started threading.Thread, not %.200s",
                         argument.type.pointee.tp_name)
                return nil
            }
            owned = ident
            value = ident
        }
        defer { release(owned) }
        let id = PyLong_AsUnsignedLong(value)
        if id == UInt.max && PyErr_Occurred() != nil { return nil }
        return id
    }

    // MARK: Statistics

    private static let stats: PyCFunction = { _, _ in
        _ = ThreadState.current()
        var rows: [(UInt, GreenletTotals, Int, Int, Int, Int, Int)] = []
        LiveThreads.forEachLocked { thread in
            var (totals, heap, live, created) = thread.registry.totals()
            totals.runNanoseconds += Accounting.currentRun(of: thread)
            rows.append((thread.pointee.threadID, totals, heap, live, created,
                         thread.pointee.dedicatedStacksRefused, thread.pointee.switchContext.pool.count))
        }
        guard let dict = PyDict_New() else { return nil }
        for (id, totals, heap, live, created, refused, pooled) in rows {
            let fields: [(StaticString, Int)] = [
                ("switches", totals.switches), ("bytes_copied", totals.bytesCopied),
                ("stack_saved_max", totals.stackSavedMax), ("run_ns", totals.runNanoseconds),
                ("live", live), ("created", created), ("heap_bytes", heap),
                ("dedicated_stacks_refused", refused), ("dedicated_stacks_pooled", pooled),
            ]
            guard let row = PyDict_New() else {
                dict.decref()
                return nil
            }
            for (name, value) in fields {
                guard let number = PyLong_FromSsize_t(value) else {
                    row.decref(); dict.decref()
                    return nil
                }
                defer { number.decref() }
                guard PyDict_SetItemString(row, cString(name), number) == 0 else {
                    row.decref(); dict.decref()
                    return nil
                }
            }
            guard setItem(dict, key: id, value: row) else {
                dict.decref()
                return nil
            }
        }
        return dict
    }

    private static let setAccounting: PyCFunction = { _, value in
        let on = PyObject_IsTrue(value)
        guard on >= 0 else { return nil }
        Accounting.set(on == 1)
        return newNone()
    }

    // MARK: Context inheritance and the global trace function

    private static let setContextInheritance: PyCFunction = { _, value in
        let on = PyObject_IsTrue(value)
        guard on >= 0 else { return nil }
        ContextInheritance.set(on == 1)
        return newNone()
    }

    private static let setTraceAll: PyCFunction = { _, value in
        guard let value else { return nil }
        if !value.isNone && PyCallable_Check(value) == 0 {
            return setError(PyExc_TypeError, "settrace_all() argument must be callable or None")
        }
        _ = ThreadState.current()
        return Tracer.setForAllThreads(value.isNone ? nil : value)
    }
}
