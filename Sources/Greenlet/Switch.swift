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
                raise(Globals.error, "cannot switch to a garbage collected greenlet")
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
            raise(Globals.error, "cannot switch to a garbage collected greenlet")
            return false
        }
        if main.state.thread == nil {
            raise(Globals.error, "cannot switch to a different thread (which happens to have exited)")
            return false
        }
        if main != thread.pointee.main {
            _ = withVaList([thread.pointee.main.object, main.object]) {
                PyErr_FormatV(Globals.error, cString("Cannot switch to a different thread\n\tCurrent:  %R\n\tExpected: %R"), $0)
            }
            return false
        }
        return true
    }

    /// Resumes an active greenlet (or stays, if it is the current one).
    private static func resume(
        _ target: GreenletRef, carrying carried: SwitchArgs, on thread: UnsafeMutablePointer<ThreadState>
    ) -> SwitchArgs {
        thread.passed.pointee = carried
        let current = thread.pointee.current
        thread.pointee.target = target
        if target == current {
            return switchedIn(thread)
        }
        if target.state.pointee.forceSwitchError {
            thread.pointee.target = nil
            thread.passed.take().drop()
            raise(PyExc_SystemError, "Failed to switch stacks into a running greenlet.")
            return SwitchArgs()
        }
        if target.state.pointee.forceStackSwitchError {
            Py_FatalError(cString("greenlet: Failed low-level slp_switch(). The stack is probably corrupt."))
        }
        let ts = currentThreadState()
        thread.pointee.switchingThreadState = ts
        let currentState = current.state
        withInterpreter(currentState) { $0.capture(from: ts, cStack: thread.pointee.cStack) }
        let outcome = StackEngine.resume(stack(of: target.state), on: thread.engine)
        if outcome == .outOfMemory {
            return switchFailed(thread, restoring: currentState)
        }
        return switchedIn(thread)
    }

    /// Starts a greenlet that has never run. Returns nil if it was started by someone else
    /// while its `run` was being looked up.
    private static func start(
        _ target: GreenletRef, carrying carried: SwitchArgs, on thread: UnsafeMutablePointer<ThreadState>
    ) -> SwitchArgs? {
        // `run` may be a property or a method of a subclass: arbitrary Python code, which must
        // neither lose a pending exception (from throw) nor leave this switch in a bad spot.
        let pending = carried.carriesException ? PendingException.take() : nil
        guard let run = PyObject_GetAttr(target.object, Globals.strRun) else {
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
            raise(PyExc_SystemError, "Failed to switch stacks into a greenlet for the first time.")
            return SwitchArgs()
        }
        let ts = currentThreadState()
        thread.pointee.switchingThreadState = ts
        let current = thread.pointee.current
        let currentState = current.state
        withInterpreter(currentState) { $0.capture(from: ts, cStack: thread.pointee.cStack) }
        withInterpreter(state) { $0.prepareStart(from: ts, chunks: thread.chunks) }
        thread.pointee.startingRun = run
        state.pointee.main = thread.pointee.main.object.newReference().asGreenlet
        thread.passed.pointee = carried
        thread.pointee.target = target
        let outcome = StackEngine.start(
            stack(of: state), on: thread.engine, entry: greenletEntry,
            context: UnsafeMutableRawPointer(target))
        if outcome == .outOfMemory {
            // Back to never started, keeping a context given through gr_context.
            thread.pointee.startingRun = nil
            run.decref()
            let context = state.pointee.interpreter.context
            state.pointee.interpreter.context = nil
            withInterpreter(state) { $0.discard(chunks: thread.chunks) }
            state.pointee.interpreter.context = context
            release(state.pointee.main?.object)
            state.pointee.main = nil
            return switchFailed(thread, restoring: currentState)
        }
        return switchedIn(thread)
    }

    /// The stack switch failed: the caller is still current. Puts its state back.
    private static func switchFailed(
        _ thread: UnsafeMutablePointer<ThreadState>, restoring state: UnsafeMutablePointer<GreenletState>
    ) -> SwitchArgs {
        interpreter(of: state).install(into: currentThreadState(), after: interpreter(of: state))
        thread.pointee.switchingThreadState = nil
        thread.pointee.target = nil
        thread.passed.take().drop()
        PyErr_NoMemory()
        return SwitchArgs()
    }

    /// Runs in the greenlet that just gained control: makes it current, puts its interpreter
    /// state back, reports the switch to the trace function, and returns what was carried.
    @inline(__always)
    static func switchedIn(_ thread: UnsafeMutablePointer<ThreadState>) -> SwitchArgs {
        let me = thread.pointee.target.unsafelyUnwrapped
        thread.pointee.target = nil
        let origin = thread.pointee.current  // its reference moves to this function
        thread.pointee.current = me.object.newReference().asGreenlet
        if origin != me {
            let ts = thread.pointee.switchingThreadState.unsafelyUnwrapped
            interpreter(of: me.state).install(into: ts, after: interpreter(of: origin.state))
        }
        thread.pointee.switchingThreadState = nil
        var carried = thread.passed.take()
        if let trace = thread.pointee.trace {
            if !Tracer.call(trace, carried.carriesException ? Globals.eventThrow! : Globals.eventSwitch!,
                            origin: origin, target: me, thread: thread) {
                carried.drop()
                carried = SwitchArgs()
            }
        }
        origin.object.decref()
        return carried
    }

    /// Finishes the running greenlet with `result` (nil: the exception set in the thread) and
    /// passes it to the nearest parent that can take it. Never returns.
    static func finish(_ me: GreenletRef, result: PyRef?, on thread: UnsafeMutablePointer<ThreadState>) -> Never {
        let state = me.state
        withInterpreter(state) { $0.finish(in: currentThreadState(), chunks: thread.chunks) }
        StackEngine.finishCurrent(on: thread.engine)
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

    @inline(__always)
    static func stack(of state: UnsafeMutablePointer<GreenletState>) -> UnsafeMutablePointer<StackSlice> {
        UnsafeMutableRawPointer(state).advanced(by: MemoryLayout<GreenletState>.offset(of: \GreenletState.stack)!)
            .assumingMemoryBound(to: StackSlice.self)
    }

    @inline(__always)
    static func interpreter(of state: UnsafeMutablePointer<GreenletState>) -> UnsafeMutablePointer<InterpreterState> {
        UnsafeMutableRawPointer(state).advanced(by: MemoryLayout<GreenletState>.offset(of: \GreenletState.interpreter)!)
            .assumingMemoryBound(to: InterpreterState.self)
    }

    @inline(__always)
    static func withInterpreter<R>(_ state: UnsafeMutablePointer<GreenletState>, _ body: (UnsafeMutablePointer<InterpreterState>) -> R) -> R {
        body(interpreter(of: state))
    }
}

/// Where a new greenlet begins, on its own band of the stack.
private func greenletEntry(_ context: UnsafeMutableRawPointer?) {
    let me = context.unsafelyUnwrapped.assumingMemoryBound(to: GreenletObject.self)
    let thread = ThreadState.current()
    let run = thread.pointee.startingRun.unsafelyUnwrapped
    thread.pointee.startingRun = nil
    var carried = Switch.switchedIn(thread)
    // The callable given as `run` goes now, in the new greenlet: its __del__ may switch.
    let state = me.state
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
    Switch.finish(me, result: Exit.valueOfExit(result), on: thread)
}

/// How a greenlet's end is turned into the value its parent receives.
enum Exit {
    /// A `GreenletExit` that ends a greenlet is not an error: the parent receives the
    /// exception instance as a value. Anything else passes through.
    static func valueOfExit(_ result: PyRef?) -> PyRef? {
        if result != nil || PyErr_ExceptionMatches(Globals.greenletExit) == 0 { return result }
        var type: PyRef? = nil, value: PyRef? = nil, traceback: PyRef? = nil
        PyErr_Fetch(&type, &value, &traceback)
        PyErr_NormalizeException(&type, &value, &traceback)
        release(type)
        release(traceback)
        return value ?? newNone()
    }
}

/// The thread's pending exception, held aside while Python code runs.
struct PendingException {
    var type: PyRef?
    var value: PyRef?
    var traceback: PyRef?

    static func take() -> PendingException {
        var pending = PendingException()
        PyErr_Fetch(&pending.type, &pending.value, &pending.traceback)
        return pending
    }

    /// Sets it as the thread's exception again (consumes it).
    func restore() { PyErr_Restore(type, value, traceback) }

    func drop() {
        release(type)
        release(value)
        release(traceback)
    }
}
