import CPythonShim
import StackEngine

/// Creating, collecting and destroying greenlet objects.
enum Lifecycle {
    /// `tp_new`: a greenlet that has not started, whose parent is the current greenlet.
    static let new: newfunc = { type, _, _ in
        // object's own tp_new: it refuses abstract classes.
        guard let type, let object = PyBaseObject_Type.tp_new(type, ModuleGlobals.emptyTuple, nil) else { return nil }
        let greenlet = object.asGreenlet
        let state = GreenletState.attach(to: greenlet, isMain: false)
        let thread = ThreadState.current()
        thread.runPendingKills()
        state.pointee.parent = thread.pointee.current.object.newReference().asGreenlet
        StackMode.prepare(state, on: thread)
        thread.registry.withLock { thread.registry.pointee.created += 1 }
        if ContextInheritance.isOn && !ContextInheritance.capture(into: state) {
            object.decref()
            return nil
        }
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
        // A collection paused in it and never resumed: no longer anywhere.
        if let thread = ThreadState.currentIfCreated, thread.pointee.collectingIn == greenlet {
            thread.pointee.collectingIn = nil
        }
        clearReferences(greenlet)
        let pool = state.pointee.main.flatMap { main in
            main.state.thread == ThreadState.currentIfCreated ? ThreadState.currentIfCreated?.chunks : nil
        }
        state.python.discard(chunks: pool)
        state.pointee.stack.releaseCopy()
        // Only a greenlet whose thread is gone still has a dedicated stack here.
        state.pointee.stack.releaseStack()
        release(state.pointee.main?.object)
        state.pointee.main = nil
        GreenletState.detach(from: greenlet)
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
        let here = ThreadState.currentIfCreated
        Kill.end(greenlet)
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

    /// `tp_finalize`, for a suspended greenlet the collector found in garbage (see
    /// `traverseSuspendedFrames`), or a heap subtype's instance whose last reference went.
    /// It is killed as if its last reference had gone. During a collection that kill is
    /// queued, which keeps the greenlet alive (the collector sees a resurrection and clears
    /// nothing of it), and runs once the collection is over (see `canKillNow`).
    static let finalize: destructor = { object in
        guard let object, let pimpl = object.asGreenlet.pointee.pimpl else { return }
        let state = pimpl.assumingMemoryBound(to: GreenletState.self)
        guard state.pointee.stack.isActive, !state.pointee.isMain, state.isSuspended else { return }
        // In the interpreter's last collections it is left to deallocation, as up to 3.14:
        // other finalizers may still switch into it.
        if interpreterIsFinalizing() { return }
        let pending = PendingException.take()
        Kill.end(object.asGreenlet)
        pending.restore()
    }

    /// `tp_traverse`: what a greenlet keeps alive.
    static let traverse: traverseproc = { object, visit, arg in
        guard let object, let visit else { return 0 }
        let greenlet = object.asGreenlet
        guard let pimpl = greenlet.pointee.pimpl else { return 0 }
        let state = pimpl.assumingMemoryBound(to: GreenletState.self)
        let call = state.pointee.runningCall
        for reference in [greenlet.pointee.dict, state.pointee.run, state.pointee.parent?.object,
                          state.pointee.main?.object, state.pointee.python.context,
                          state.pointee.python.exceptionBase.exc_value,
                          call?.callable, call?.args, call?.kwargs] {
            if let reference {
                let result = visit(reference, arg)
                if result != 0 { return result }
            }
        }
        let python = state.python
        let result = python.pointee.freeThreaded.traverse(visit, arg)
        if result != 0 { return result }
        return python.traverseSuspendedFrames(visit, arg)
    }

    /// `tp_clear`: breaks cycles through a greenlet that the collector found unreachable.
    static let clear: inquiry = { object in
        guard let object else { return 0 }
        let greenlet = object.asGreenlet
        guard greenlet.pointee.pimpl != nil else { return 0 }
        let state = greenlet.state
        clearReferences(greenlet)
        let context = state.pointee.python.context
        state.pointee.python.context = nil
        release(context)
        // Frames that can never run again hold the rest of the cycle.
        if !state.pointee.isMain && state.pointee.stack.isActive && state.ranInDeadThread {
            Kill.forgetOrphan(state)
        }
        return 0
    }
}
