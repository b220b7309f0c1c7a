import CPythonShim
import StackEngine

/// Switching between greenlets: finding the real target, starting, resuming, finishing.
///
/// Nothing here holds a Swift reference or an `inout` across a stack switch: state goes
/// through the thread state and the greenlets' own state, both at fixed heap addresses.
enum Switch {
    /// Gives control to `target` (or, if it is dead, to the first live greenlet up its parent
    /// chain), carrying `carried`. Returns what the caller receives when control comes back,
    /// or carries the exception that stopped the switch.
    static func to(_ target: GreenletRef, carrying carried: SwitchArgs) -> SwitchArgs {
        let thread = ThreadState.current()
        // Another thread's greenlet is refused before this switch touches anything.
        guard checkThread(of: target, from: thread) else {
            carried.drop()
            return SwitchArgs()
        }
        thread.runPendingKills()
        var next = target
        while true {
            let state = next.state
            if state.pointee.stack.isActive {
                return resume(next, carrying: carried, on: thread)
            }
            if !state.pointee.stack.isStarted {
                if let received = start(next, carrying: carried, on: thread) { return received }
                continue  // Python code run by the start started it meanwhile: resume instead.
            }
            guard let parent = state.pointee.parent else {
                carried.drop()
                setError(ModuleGlobals.error, "cannot switch to a garbage collected greenlet")
                return SwitchArgs()
            }
            next = parent
        }
    }

    /// Refuses switches into another thread's greenlets, with upstream's messages.
    static func checkThread(of target: GreenletRef, from thread: UnsafeMutablePointer<ThreadState>) -> Bool {
        let state = target.state
        if let main = state.pointee.main, main == thread.pointee.main { return true }  // fast path
        guard let main = state.lineageMain else {
            setError(ModuleGlobals.error, "cannot switch to a garbage collected greenlet")
            return false
        }
        if main.state.thread == nil {
            setError(ModuleGlobals.error, "cannot switch to a different thread (which happens to have exited)")
            return false
        }
        if main != thread.pointee.main {
            setError(
                ModuleGlobals.error, format: "Cannot switch to a different thread\n\tCurrent:  %R\n\tExpected: %R",
                thread.pointee.main.object, main.object)
            return false
        }
        return true
    }

    /// Resumes an active greenlet (or stays, if it is the current one).
    private static func resume(
        _ target: GreenletRef, carrying carried: SwitchArgs, on thread: UnsafeMutablePointer<ThreadState>
    ) -> SwitchArgs {
        let current = thread.pointee.current
        if target == current {
            thread.launch(SwitchInFlight(target: target, carried: carried))
            return switchedIn(thread).carried
        }
        if target.state.pointee.forceSwitchError {
            carried.drop()
            setError(PyExc_SystemError, "Failed to switch stacks into a running greenlet.")
            return SwitchArgs()
        }
        if target.state.pointee.forceStackSwitchError {
            Py_FatalError(cString("greenlet: Failed low-level slp_switch(). The stack is probably corrupt."))
        }
        let ts = currentThreadState()
        thread.launch(SwitchInFlight(target: target, pyThreadState: ts, carried: carried))
        let currentState = current.state
        currentState.python.capture(from: ts, cStack: thread.pointee.cStack, ownStack: currentState.pointee.stack.isDedicated)
        let outcome = StackEngine.resume(target.state.stackSlice, on: thread.switchContextPointer)
        if outcome == .outOfMemory {
            return switchFailed(thread, restoring: currentState)
        }
        return switchedIn(thread).carried
    }

    /// Starts a greenlet that has never run. Returns nil if it was started by someone else
    /// while its `run` was being looked up.
    private static func start(
        _ target: GreenletRef, carrying carried: SwitchArgs, on thread: UnsafeMutablePointer<ThreadState>
    ) -> SwitchArgs? {
        // `run` may be a property or a method of a subclass: arbitrary Python code, which must
        // neither lose a pending exception (from throw) nor leave this switch in a bad spot.
        let pending = carried.carriesException ? PendingException.take() : nil
        guard let run = PyObject_GetAttr(target.object, ModuleGlobals.strRun) else {
            pending?.drop()
            carried.drop()
            return SwitchArgs()
        }
        let state = target.state
        if state.pointee.stack.isStarted {
            run.decref()
            pending?.restore()
            return nil
        }
        // The lookup may have re-parented it onto another thread.
        guard checkThread(of: target, from: thread) else {
            run.decref()
            pending?.drop()
            carried.drop()
            return SwitchArgs()
        }
        pending?.restore()
        if state.pointee.forceSwitchError {
            run.decref()
            carried.drop()
            setError(PyExc_SystemError, "Failed to switch stacks into a greenlet for the first time.")
            return SwitchArgs()
        }
        let ts = currentThreadState()
        let current = thread.pointee.current
        let currentState = current.state
        currentState.python.capture(from: ts, cStack: thread.pointee.cStack, ownStack: currentState.pointee.stack.isDedicated)
        state.python.prepareStart(from: ts, chunks: thread.chunks, stackBytes: freshStackBytes(for: state, on: thread))
        state.pointee.main = thread.pointee.main.object.newReference().asGreenlet
        thread.launch(SwitchInFlight(target: target, pyThreadState: ts, carried: carried, startingRun: run))
        thread.registry.add(state)
        let outcome = StackEngine.start(
            state.stackSlice, on: thread.switchContextPointer, entry: greenletEntry,
            context: UnsafeMutableRawPointer(target))
        if outcome == .outOfMemory {
            thread.registry.remove(state)
            // Back to never started, keeping a context given through gr_context.
            let context = state.pointee.python.context
            state.pointee.python.context = nil
            state.python.discard(chunks: thread.chunks)
            state.pointee.python.context = context
            release(state.pointee.main?.object)
            state.pointee.main = nil
            return switchFailed(thread, restoring: currentState)
        }
        return switchedIn(thread).carried
    }

    /// The bytes of stack a greenlet about to start has, if it does not start right below its
    /// starter: its dedicated stack, or, started from a greenlet on a dedicated stack, the
    /// thread's stack below the innermost greenlet with bytes there.
    private static func freshStackBytes(
        for state: UnsafeMutablePointer<GreenletState>, on thread: UnsafeMutablePointer<ThreadState>
    ) -> Int? {
        if state.pointee.stack.isDedicated { return state.pointee.stack.stackSize }
        guard let point = thread.pointee.switchContext.threadStackLaunchPoint else { return nil }
        let cStack = thread.pointee.cStack
        guard cStack.isKnown, UInt(bitPattern: point) > cStack.low else { return nil }
        return Int(UInt(bitPattern: point) - cStack.low)
    }

    /// The stack switch failed: the caller is still current. Puts its state back.
    private static func switchFailed(
        _ thread: UnsafeMutablePointer<ThreadState>, restoring state: UnsafeMutablePointer<GreenletState>
    ) -> SwitchArgs {
        state.python.install(into: currentThreadState(), after: state.python)
        thread.land().drop()
        PyErr_NoMemory()
        return SwitchArgs()
    }

    /// Runs in the greenlet that just gained control: makes it current, puts its interpreter
    /// state back, reports the switch to the trace function, and returns what was carried
    /// (and, for a start, the callable to run).
    ///
    /// `@_transparent` rather than `@inline(__always)`: with the observer tests below, the
    /// optimizer stopped honouring the latter and called this out of line, which cost 4% of a
    /// switch (perf_cg); transparent functions are inlined before optimization, always.
    @_transparent
    static func switchedIn(_ thread: UnsafeMutablePointer<ThreadState>) -> (carried: SwitchArgs, run: PyRef?) {
        let flight = thread.land()
        assert(flight.target != nil, "nothing was in flight")
        let me = flight.target.unsafelyUnwrapped
        let origin = thread.pointee.current  // its reference moves to this function
        thread.pointee.current = me.object.newReference().asGreenlet
        if origin != me {
            me.state.pointee.switches &+= 1
            assert(flight.pyThreadState != nil, "a switch between greenlets carries the thread state")
            assert(thread.pointee.switchContext.current == me.state.stackSlice, "the engine runs another slice")
            me.state.python.install(into: flight.pyThreadState.unsafelyUnwrapped, after: origin.state.python)
            if StackLimits.needInstall(me.state, on: thread) {
                StackLimits.install(for: me.state, on: thread, into: flight.pyThreadState.unsafelyUnwrapped)
            }
            // The opt-in observers; with none, two loads and two tests.
            if let hooks = SwitchHooks.table { SwitchHooks.call(hooks, origin: origin, target: me) }
            if Accounting.isOn { Accounting.charge(origin, on: thread) }
        }
        var carried = flight.carried
        if let trace = thread.pointee.trace {
            if !Tracer.call(trace, carried.carriesException ? ModuleGlobals.eventThrow! : ModuleGlobals.eventSwitch!,
                            origin: origin, target: me, thread: thread) {
                carried.drop()
                carried = SwitchArgs()
            }
        }
        origin.object.decref()
        return (carried, flight.startingRun)
    }

    /// Finishes the running greenlet with `result` (nil: the exception set in the thread) and
    /// passes it to the nearest parent that can take it. Never returns.
    static func finish(_ me: GreenletRef, result: PyRef?, on thread: UnsafeMutablePointer<ThreadState>) -> Never {
        let state = me.state
        if Accounting.isOn { Accounting.charge(me, on: thread) }
        thread.registry.remove(state)
        state.python.finish(in: currentThreadState(), chunks: thread.chunks)
        StackEngine.finishCurrent(on: thread.switchContextPointer)
        var value = result
        var parent = state.pointee.parent
        // The parents stay alive without references of our own: this greenlet holds its
        // parent, and stays alive itself (as the thread's current) until the switch is done.
        while let next = parent {
            let carried = value.map { SwitchArgs(single: $0) } ?? SwitchArgs()
            value = nil
            // Only returns if the switch failed, with the reason set as the exception.
            Switch.to(next, carrying: carried).drop()
            parent = next.state.pointee.parent
        }
        PyErr_WriteUnraisable(me.object)
        Py_FatalError(cString("greenlet: ran out of parent greenlets while propagating exception; cannot continue"))
    }
}

/// Where a new greenlet begins, on its own band of the stack.
private func greenletEntry(_ context: UnsafeMutableRawPointer?) {
    let me = context.unsafelyUnwrapped.assumingMemoryBound(to: GreenletObject.self)
    let thread = ThreadState.current()
    let landed = Switch.switchedIn(thread)
    assert(landed.run != nil, "a start carries the callable to run")
    let run = landed.run.unsafelyUnwrapped
    var carried = landed.carried
    // The callable given as `run` goes now, in the new greenlet: its __del__ may switch.
    let state = me.state
    if state.pointee.stack.dedicatedStackRefused { thread.pointee.dedicatedStacksRefused += 1 }
    if let given = state.pointee.run {
        state.pointee.run = nil
        let pending = carried.carriesException ? PendingException.take() : nil
        given.decref()
        pending?.restore()
        if !carried.carriesException && PyErr_Occurred() != nil {
            carried.drop()
            carried = SwitchArgs()
        }
    }
    var result: PyRef? = nil
    if !carried.carriesException {
        let (args, kwargs) = carried.callArguments()
        if let args {
            state.pointee.runningCall = RunningCall(callable: run, args: args, kwargs: kwargs)
            result = PyObject_Call(run, args, kwargs)
            state.dropRunningCall()
        } else {
            run.decref()
            release(kwargs)
        }
    } else {
        run.decref()
    }
    Switch.finish(me, result: Exit.parentValue(ofRunResult: result), on: thread)
}
