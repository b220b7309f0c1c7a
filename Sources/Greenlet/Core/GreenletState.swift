import CPythonShim
import StackEngine

/// Everything a greenlet owns, behind `GreenletObject.pimpl`.
///
/// A plain struct in manually managed memory: the switch path reads and writes it through a
/// pointer with no reference counting. Python references in it are owned unless noted.
struct GreenletState {
    /// Its band of the C stack. The engine links slices to each other by address, so this
    /// struct never moves.
    var stack: StackSlice
    /// CPython's per-thread state while the greenlet is not running.
    var python: PythonState
    /// The callable given as `run`, until the greenlet starts.
    var run: PyRef?
    /// While `run` runs: the callable and the arguments it was called with (owned). They are
    /// held here, not on the greenlet's C stack, so that the collector sees them and a
    /// greenlet that can never finish (its thread exited) still gives them back.
    var runningCall: RunningCall?
    /// The greenlet that receives control and the result when this one finishes. Only a main
    /// greenlet has none.
    var parent: GreenletRef?
    /// The main greenlet of the thread this greenlet runs in; set when it starts. For a main
    /// greenlet, nil (it is its own).
    var main: GreenletRef?
    /// For a main greenlet: its thread's state, or nil once that thread has exited; read and
    /// written through `thread` (atomically).
    var threadStorage: UnsafeMutableRawPointer?
    /// The object this state belongs to (borrowed).
    let object: GreenletRef
    let isMain: Bool
    /// Kills of other greenlets running on this greenlet's C stack, one inside the other.
    var nestedKills: Int
    /// Test hooks of `UnswitchableGreenlet`: fail the next switch before, or at, the stack switch.
    var forceSwitchError: Bool
    var forceStackSwitchError: Bool
    /// Its place among its thread's live greenlets (`Registry.swift`).
    var registryLink: RegistryLink
    /// Times it was switched into (`gr_switches`).
    var switches: Int
    /// Nanoseconds it ran while accounting was on (`gr_run_ns`), up to its last switch out.
    var runNanoseconds: Int

    @inline(__always)
    init(object: GreenletRef, isMain: Bool) {
        stack = isMain ? .main() : StackSlice()
        python = PythonState()
        run = nil
        runningCall = nil
        parent = nil
        main = nil
        threadStorage = nil
        self.object = object
        self.isMain = isMain
        nestedKills = 0
        forceSwitchError = false
        forceStackSwitchError = false
        registryLink = RegistryLink()
        switches = 0
        runNanoseconds = 0
    }

    /// Main greenlets alive, one per thread that used greenlets and whose main greenlet is not
    /// yet gone (`get_total_main_greenlets`); counted here, where states come and go.
    static let liveMainGreenlets = SharedCounter()

    /// Gives `object` a fresh state.
    static func attach(to object: GreenletRef, isMain: Bool) -> UnsafeMutablePointer<GreenletState> {
        let state = UnsafeMutablePointer<GreenletState>.allocate(capacity: 1)
        state.initialize(to: GreenletState(object: object, isMain: isMain))
        object.pointee.pimpl = UnsafeMutableRawPointer(state)
        if isMain { liveMainGreenlets.add(1) }
        return state
    }

    /// Frees `object`'s state, which must hold no references any more.
    static func detach(from object: GreenletRef) {
        let state = object.state
        if state.pointee.isMain { liveMainGreenlets.add(-1) }
        // Every way to die leaves the registry first; this keeps a missed one from leaving a
        // dangling entry behind.
        assert(state.pointee.registryLink.registry == nil, "a greenlet is freed while listed as live")
        if state.pointee.registryLink.registry != nil { state.leaveRegistryFromAnyThread() }
        state.deinitialize(count: 1)
        state.deallocate()
        object.pointee.pimpl = nil
    }
}

extension UnsafeMutablePointer where Pointee == GreenletState {
    /// Its band of the C stack, at the fixed address the engine links it by.
    @inline(__always) var stackSlice: UnsafeMutablePointer<StackSlice> { pointer(to: \.stack)! }

    /// CPython's per-thread state while it is not running, at a fixed address.
    @inline(__always) var python: UnsafeMutablePointer<PythonState> { pointer(to: \.python)! }

    /// For a main greenlet: its thread's state, or nil once that thread has exited. Other
    /// threads read it to refuse cross-thread switches, and the thread's exit hook clears it
    /// holding no lock, so every access is atomic.
    var thread: UnsafeMutablePointer<ThreadState>? {
        get {
            gl_atomic_load_pointer(pointer(to: \.threadStorage))?.assumingMemoryBound(to: ThreadState.self)
        }
        nonmutating set {
            gl_atomic_store_pointer(pointer(to: \.threadStorage), newValue.map { UnsafeMutableRawPointer($0) })
        }
    }

    /// The main greenlet of the thread this greenlet belongs to: its own main once started,
    /// else the first one found up its parent chain.
    var lineageMain: GreenletRef? {
        if pointee.isMain { return pointee.object }
        if let main = pointee.main { return main }
        var next = pointee.parent
        while let candidate = next {
            let state = candidate.state
            if state.pointee.isMain { return candidate }
            if let main = state.pointee.main { return main }
            next = state.pointee.parent
        }
        return nil
    }

    /// The state of the thread this greenlet belongs to, if that thread is alive.
    var owningThread: UnsafeMutablePointer<ThreadState>? {
        lineageMain?.state.thread
    }

    /// The thread that ran this greenlet has exited (and it was started there).
    var ranInDeadThread: Bool {
        guard pointee.stack.isStarted || pointee.isMain else { return false }
        guard let main = pointee.isMain ? pointee.object : pointee.main else { return false }
        return main.state.thread == nil
    }

    /// Gives back the references of the call `run` is in (it returned, or never will).
    func dropRunningCall() {
        let call = pointee.runningCall
        pointee.runningCall = nil
        call?.drop()
    }

    /// Finished, or started in a thread that has exited (`dead`).
    var isDead: Bool {
        ranInDeadThread || pointee.stack.isFinished
    }

    /// Started, not finished, and not the running greenlet of its thread.
    var isSuspended: Bool {
        guard pointee.stack.isActive else { return false }
        guard let thread = owningThread else { return true }
        return thread.pointee.current != pointee.object
    }
}

/// The call a greenlet's `run` is in (owned references).
struct RunningCall {
    var callable: PyRef
    var args: PyRef
    var kwargs: PyRef?

    func drop() {
        callable.decref()
        args.decref()
        release(kwargs)
    }
}
