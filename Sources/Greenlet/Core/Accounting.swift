import CPythonShim

/// Run time per greenlet (`gr_run_ns`), opt-in with `greenlet.set_accounting(True)`: it reads
/// a clock on every switch, which the always-on counters do not.
///
/// Each thread keeps when its running greenlet gained control; a switch charges the time
/// since then to the greenlet that loses control. Time before accounting was turned on is
/// never charged, so turning it off and on again does not charge the gap.
enum Accounting {
    @inline(__always) static var isOn: Bool { gl_accounting_since_get() != 0 }

    static func set(_ on: Bool) {
        gl_accounting_since_set(on ? gl_monotonic_ns() : 0)
    }

    /// At a switch away from `origin`: charges it the time it ran, and starts the clock for
    /// the greenlet gaining control. A greenlet that just finished was charged already.
    @inline(never)
    static func charge(_ origin: GreenletRef, on thread: UnsafeMutablePointer<ThreadState>) {
        let now = gl_monotonic_ns()
        let since = max(thread.pointee.runningSince, gl_accounting_since_get())
        let state = origin.state
        if state.pointee.stack.isActive && since > 0 && now > since {
            state.pointee.runNanoseconds += Int(now - since)
        }
        thread.pointee.runningSince = now
    }

    /// `gr_run_ns`: what `greenlet` was charged, plus its current run if it is running, in
    /// this thread or another (whose clock start is then read as it is at this moment).
    static func runNanoseconds(of greenlet: GreenletRef) -> Int {
        let state = greenlet.state
        var total = state.pointee.runNanoseconds
        if state.pointee.stack.isActive, let thread = state.owningThread, thread.pointee.current == greenlet {
            total += currentRun(of: thread)
        }
        return total
    }

    /// How long the running greenlet of `thread` has run since it was last charged; 0 while
    /// accounting is off.
    static func currentRun(of thread: UnsafeMutablePointer<ThreadState>) -> Int {
        guard isOn else { return 0 }
        let since = max(thread.pointee.runningSince, gl_accounting_since_get())
        let now = gl_monotonic_ns()
        return since > 0 && now > since ? Int(now - since) : 0
    }
}
