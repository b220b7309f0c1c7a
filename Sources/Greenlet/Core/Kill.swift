import CPythonShim

/// Ending a suspended greenlet that nobody can switch to any more: by throwing `GreenletExit`
/// into it in its own thread, by queueing that for its thread, or, when no thread can ever
/// run it again, by forgetting its stack.
///
/// Deallocation and the collector's finalizer (in the type's `Lifecycle`) decide *when* a
/// greenlet dies; this decides *how*, and the thread's queue of deferred kills drains here.
enum Kill {
    /// Kills a greenlet that was queued for this thread (by a kill nested too deep, or by
    /// another thread), if it is still suspended. The queue's reference keeps it alive; it may
    /// still be referenced elsewhere (a finalizer queued it from a cycle), so it is ended here
    /// rather than by dropping that reference. Any pending exception is kept aside.
    static func queued(_ greenlet: GreenletRef) {
        let state = greenlet.state
        guard state.pointee.stack.isActive, !state.pointee.isMain, state.isSuspended else { return }
        let pending = PendingException.take()
        end(greenlet)
        pending.restore()
    }

    /// Ends a suspended greenlet that is alive (a reference is held for the while): throws
    /// `GreenletExit` into it in its own thread, queues that for its thread if it is another
    /// one, or, if it can never run again, forgets its stack. No exception may be set.
    static func end(_ greenlet: GreenletRef) {
        let object = greenlet.object
        let state = greenlet.state
        let here = ThreadState.currentIfCreated
        if interpreterIsFinalizing() {
            // The interpreter is being torn down: running the greenlet's Python code now
            // could touch what is already gone. It dies without running.
            state.leaveRegistryFromAnyThread()
            state.pointee.stack.finish()
        } else if let here, let owner = state.owningThread, owner == here, !here.canKillNow {
            // Nested too deep, the running greenlet is finishing, or a collection runs:
            // later (the queue keeps it alive).
            here.deferKill(greenlet)
        } else if let here, let owner = state.owningThread, owner == here {
            // Control comes back here when it ends: make the killer its parent for the while.
            let killer = here.pointee.current
            let parent = state.pointee.parent
            state.pointee.parent = killer.object.newReference().asGreenlet
            killer.state.pointee.nestedKills += 1
            setError(ModuleGlobals.greenletExit, "Killing the greenlet because all references have vanished.")
            let outcome = Switch.to(greenlet, carrying: SwitchArgs())
            if outcome.carriesException {
                PyErr_WriteUnraisable(object)
            } else {
                outcome.drop()
            }
            release(state.pointee.parent?.object)
            state.pointee.parent = parent
            // This code runs in the killer again, which the thread holds as its current.
            killer.state.pointee.nestedKills -= 1
            // The outermost kill works off what nested ones queued.
            if killer.state.pointee.nestedKills == 0 { here.runPendingKills() }
        } else {
            // Only its own thread can run it: queue it there (the queue holds a reference),
            // or, if that thread is gone, it can never run again: forget its stack.
            switch KillQueue.enqueue(greenlet) {
            case .queued: break
            case .failed: object.incref()  // leak it rather than free a live stack
            case .threadExited: forgetOrphan(state)
            }
        }
    }

    /// A suspended greenlet whose thread has exited can never run again: releases what its
    /// frames hold (where CPython lets us) and marks it finished.
    static func forgetOrphan(_ state: UnsafeMutablePointer<GreenletState>) {
        state.leaveRegistryFromAnyThread()
        state.python.clearOrphanedFrames()
        state.dropRunningCall()
        if state.pointee.stack.isActive { state.pointee.stack.finish() }
    }
}
