import CPythonShim
import StackEngine

/// Creating, collecting and destroying greenlet objects.
enum Lifecycle {
    /// `tp_new`: a greenlet that has not started, whose parent is the current greenlet.
    static let new: newfunc = { type, _, _ in
        // object's own tp_new: it refuses abstract classes.
        guard let type, let object = PyBaseObject_Type.tp_new(type, Globals.emptyTuple, nil) else { return nil }
        let greenlet = object.asGreenlet
        let state = GreenletState.attach(to: greenlet, isMain: false)
        let thread = ThreadState.current()
        thread.runPendingKills()
        state.pointee.parent = thread.pointee.current.object.newReference().asGreenlet
        return object
    }

    /// `tp_dealloc`. A suspended greenlet is first killed with `GreenletExit` so that its
    /// `finally` blocks run; that may resurrect it.
    static let dealloc: destructor = { object in
        guard let object else { return }
        PyObject_GC_UnTrack(object)
        let greenlet = object.asGreenlet
        let state = greenlet.state
        if state.pointee.stack.isActive && !state.pointee.isMain {
            if !kill(greenlet) { return }  // resurrected
        }
        if greenlet.pointee.weakreflist != nil { PyObject_ClearWeakRefs(object) }
        clearReferences(greenlet)
        let pool = state.pointee.main.flatMap { main in
            main.state.pointee.thread == ThreadState.existing ? ThreadState.existing?.chunks : nil
        }
        Switch.withInterpreter(state) { $0.discard(chunks: pool) }
        state.pointee.stack.releaseCopy()
        if state.pointee.isMain { ThreadExit.mainGreenlets -= 1 }
        release(state.pointee.main?.object)
        state.pointee.main = nil
        state.deinitialize(count: 1)
        state.deallocate()
        greenlet.pointee.pimpl = nil
        object.type.pointee.tp_free(UnsafeMutableRawPointer(object))
    }

    /// Drops the references a greenlet holds to other Python objects (not its main greenlet,
    /// which thread checks still need).
    static func clearReferences(_ greenlet: GreenletRef) {
        let state = greenlet.state
        let dict = greenlet.pointee.dict
        greenlet.pointee.dict = nil
        let run = state.pointee.run
        state.pointee.run = nil
        let parent = state.pointee.parent
        state.pointee.parent = nil
        release(dict)
        release(run)
        release(parent?.object)
    }

    /// Ends a suspended greenlet whose last reference is gone. Returns false if it was
    /// resurrected (someone kept a reference while it ran), true if deallocation may go on.
    static func kill(_ greenlet: GreenletRef) -> Bool {
        let object = greenlet.object
        let state = greenlet.state
        gl_set_refcnt(object, 1)  // alive again while it runs
        let pending = PendingException.take()
        let here = ThreadState.existing
        if interpreterIsFinalizing() {
            // The interpreter is being torn down: running the greenlet's Python code now
            // could touch what is already gone. It dies without running.
            state.pointee.stack.finish()
        } else if let here, let owner = state.owningThread, owner == here {
            // Control comes back here when it ends: make the killer its parent for the while.
            let parent = state.pointee.parent
            state.pointee.parent = here.pointee.current.object.newReference().asGreenlet
            raise(Globals.greenletExit, "Killing the greenlet because all references have vanished.")
            let outcome = Switch.to(greenlet, carrying: SwitchArgs())
            if outcome.carriesException {
                PyErr_WriteUnraisable(object)
            } else {
                outcome.drop()
            }
            release(state.pointee.parent?.object)
            state.pointee.parent = parent
        } else if let owner = state.owningThread {
            // Only its own thread can run it: queue it there (the queue holds a reference).
            owner.deferKill(greenlet)
        } else {
            // Its thread is gone: it can never run again. Forget its stack.
            state.pointee.stack.finish()
        }
        if gl_refcnt(object) == 1 && state.pointee.stack.isActive && state.owningThread == here && here != nil {
            // It caught GreenletExit and switched away: it cannot be killed. Keep it, say so.
            object.incref()
            if let stderr = PySys_GetObject(cString("stderr")) {
                PyFile_WriteString(cString("GreenletExit did not kill "), stderr)
                PyFile_WriteObject(object, stderr, 0)
                PyFile_WriteString(cString("\n"), stderr)
            }
        }
        pending.restore()
        let remaining = gl_refcnt(object) - 1
        gl_set_refcnt(object, remaining)
        if remaining == 0 { return true }
        // Resurrected. A heap subtype's dealloc drops a type reference after ours returns.
        if (object.type.pointee.tp_flags & UInt(Py_TPFLAGS_HEAPTYPE)) != 0 {
            object.type.withMemoryRebound(to: PyObject.self, capacity: 1) { $0.incref() }
        }
        PyObject_GC_Track(object)
        return false
    }

    /// `tp_traverse`: what a greenlet keeps alive.
    static let traverse: traverseproc = { object, visit, arg in
        guard let object, let visit else { return 0 }
        let greenlet = object.asGreenlet
        guard let pimpl = greenlet.pointee.pimpl else { return 0 }
        let state = pimpl.assumingMemoryBound(to: GreenletState.self)
        for reference in [greenlet.pointee.dict, state.pointee.run, state.pointee.parent?.object,
                          state.pointee.main?.object, state.pointee.interpreter.context,
                          state.pointee.interpreter.exceptionBase.exc_value] {
            if let reference {
                let result = visit(reference, arg)
                if result != 0 { return result }
            }
        }
        return 0
    }

    /// `tp_clear`: breaks cycles through a greenlet that the collector found unreachable.
    static let clear: inquiry = { object in
        guard let object else { return 0 }
        let greenlet = object.asGreenlet
        guard greenlet.pointee.pimpl != nil else { return 0 }
        clearReferences(greenlet)
        let context = greenlet.state.pointee.interpreter.context
        greenlet.state.pointee.interpreter.context = nil
        release(context)
        return 0
    }

    /// `tp_is_gc`: a suspended greenlet is never collected as garbage (its frames may still
    /// need to run); main greenlets, and greenlets that are not active, are.
    static let isCollectable: inquiry = { object in
        guard let object, let pimpl = object.asGreenlet.pointee.pimpl else { return 1 }
        let state = pimpl.assumingMemoryBound(to: GreenletState.self)
        if state.pointee.isMain || !state.pointee.stack.isActive || state.ranInDeadThread { return 1 }
        return 0
    }
}
