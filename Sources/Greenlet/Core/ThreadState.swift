import CPythonShim
import StackEngine

/// One thread's greenlet bookkeeping: its main greenlet, the running one, what a switch in
/// progress carries, and its trace function.
///
/// Created on first use in a thread, at a fixed heap address that the register switch gets as
/// its context; found again through a C thread-local.
struct ThreadState {
    /// The engine's view: which slice runs (handed to the engine as `switchContextPointer`).
    var switchContext: SwitchContext
    /// The thread's main greenlet (owned).
    var main: GreenletRef
    /// The running greenlet (owned: it may have no other reference).
    var current: GreenletRef
    /// What a switch in progress carries across the stack switch; empty at rest.
    var inFlight: SwitchInFlight
    /// The greenlet trace function (owned), or nil.
    var trace: PyRef?
    var chunks: DataStackChunkPool
    /// Greenlets of this thread whose last reference went away in another thread, or too
    /// deep in nested kills; they are killed here, later.
    var pendingKills: KillQueue
    /// Where this thread's C stack lies.
    let cStack: CStackRange
    /// The greenlet whose `drainPendingKills` loop is running, if any (borrowed): a kill
    /// inside that loop leaves what it queues to the loop rather than nesting another one.
    var drainingKillsIn: GreenletRef?
    /// The greenlet in which this thread's collection runs, between the "start" and "stop"
    /// that `gc.callbacks` report (`CollectorCallback`); compared, never used.
    var collectingIn: GreenletRef? = nil
    /// Set while the callbacks report a collection over: the collector still counts as
    /// running then, but its lists are gone and a switch is safe.
    var collectionIsOver = false
    /// The thread's live greenlets (`Registry.swift`).
    var registry = GreenletRegistry()
    /// The thread's identifier, as `threading.get_ident()` gives it.
    let threadID: UInt
    /// Links of `LiveThreads`, changed under `ThreadExit`'s lock.
    var nextThread: UnsafeMutablePointer<ThreadState>? = nil
    var previousThread: UnsafeMutablePointer<ThreadState>? = nil
    /// With accounting on: when the running greenlet gained control (`gl_monotonic_ns`), or 0.
    var runningSince: Int64 = 0
    /// Trace functions that another thread's `settrace_all` replaced on a free-threaded build
    /// (owned): this thread may have been about to call one, so they are released with the
    /// thread's state. Changed under `ThreadExit`'s lock; never on the switch path.
    var retiredTraces: [PyRef] = []
    /// The dedicated stack size of the greenlets this thread creates; 0: copying
    /// (`StackMode`).
    var newGreenletStackSize = StackMode.processDefault
    /// Greenlets of this thread that asked for a dedicated stack and run on the thread's
    /// stack instead: the system had no mapping to give (`stats()`).
    var dedicatedStacksRefused = 0
    /// The C stack limits CPython measured for the thread's own stack, kept while a greenlet
    /// on a dedicated stack runs with limits of its own (`StackLimits`; empty before 3.14).
    var stackLimits = ThreadStackLimits()

    static func current() -> UnsafeMutablePointer<ThreadState> {
        if let existing = greenlet_thread_state_get() {
            return existing.assumingMemoryBound(to: ThreadState.self)
        }
        return create()
    }

    /// The running greenlet, as a new reference (`getcurrent()`); nil with `RuntimeError` once
    /// the interpreter finalizes.
    static func currentGreenlet() -> GreenletRef? {
        if interpreterIsFinalizing() {
            setError(PyExc_RuntimeError, "greenlet is being finalized")
            return nil
        }
        let thread = current()
        thread.runPendingKills()
        return thread.pointee.current.object.newReference().asGreenlet
    }

    /// The thread's state if it has one already; never creates it.
    static var currentIfCreated: UnsafeMutablePointer<ThreadState>? {
        greenlet_thread_state_get()?.assumingMemoryBound(to: ThreadState.self)
    }

    @inline(never)
    private static func create() -> UnsafeMutablePointer<ThreadState> {
        guard let object = greenletType.pointee.tp_alloc(greenletType, 0) else {
            Py_FatalError(cString("greenlet: cannot allocate the main greenlet"))
        }
        let main = object.asGreenlet
        let mainState = GreenletState.attach(to: main, isMain: true)
        let state = UnsafeMutablePointer<ThreadState>.allocate(capacity: 1)
        let mainSlice = mainState.stackSlice
        state.initialize(to: ThreadState(
            switchContext: SwitchContext(main: mainSlice), main: main, current: main.object.newReference().asGreenlet,
            inFlight: SwitchInFlight(), trace: nil, chunks: DataStackChunkPool(), pendingKills: KillQueue(),
            cStack: .ofRunningThread(), drainingKillsIn: nil, threadID: PyThread_get_thread_ident()))
        mainState.thread = state
        state.registry.add(mainState)
        LiveThreads.add(state)
        greenlet_thread_state_set(UnsafeMutableRawPointer(state))
        return state
    }
}

extension UnsafeMutablePointer where Pointee == ThreadState {
    /// The engine context handed to the register switch.
    @inline(__always) var switchContextPointer: UnsafeMutablePointer<SwitchContext> { pointer(to: \.switchContext)! }

    @inline(__always) var chunks: UnsafeMutablePointer<DataStackChunkPool> { pointer(to: \.chunks)! }

    @inline(__always) var registry: UnsafeMutablePointer<GreenletRegistry> { pointer(to: \.registry)! }

    /// Fills what the coming stack switch carries. Nothing may be in flight already.
    @inline(__always) func launch(_ flight: SwitchInFlight) {
        assert(pointee.inFlight.isEmpty, "a switch is already in flight")
        assert(flight.target != nil, "a switch needs a target")
        pointee.inFlight = flight
    }

    /// Takes what the switch carried, leaving nothing in flight.
    @inline(__always) func land() -> SwitchInFlight {
        let flight = pointee.inFlight
        pointee.inFlight = SwitchInFlight()
        return flight
    }
}

extension ThreadState {
    /// How deep kills may nest in one greenlet before further ones are queued instead.
    ///
    /// Killing a greenlet can free another suspended one, whose kill then runs inside the
    /// first, on the killer's C stack (a chain of greenlets, each holding the next, dies this
    /// way). Every switch made from deep inside such a nest copies the whole nest's C stack,
    /// so a long chain would cost time quadratic in its length, and C stack without bound.
    /// Past this depth a kill is queued, and the queue is worked off once the nest unwinds.
    static let maxNestedKills = 64
}

extension UnsafeMutablePointer where Pointee == ThreadState {
    /// Queues a greenlet of this thread for killing later, from a kill nested too deep.
    func deferKill(_ greenlet: GreenletRef) {
        if KillQueue.enqueue(greenlet, on: self) != .queued {
            greenlet.object.incref()  // cannot queue it: leak it rather than free a live stack
        }
    }

    /// Whether the running greenlet can kill another one now. A kill makes the killer the
    /// victim's parent for the while, and control comes back to it when the victim ends; so
    /// the killer must not be nested in kills as deep as they may go, nor be finishing: a
    /// finishing greenlet cannot take control back, and the victim's end would go on to its
    /// parent in place of the finishing greenlet's own result.
    ///
    /// Nor may a collection be running in the killer: a kill switches stacks, and the
    /// collector keeps lists whose heads live in its C frames, which the victim's frames would
    /// then overlay while its code frees objects from those lists (writing to their
    /// neighbours, the heads among them). Those kills wait for the collection to end
    /// (`CollectorCallback`). A collection that a finalizer paused by switching away is left
    /// to the greenlet it runs in: others kill as usual (killing that one ends the pause).
    @inline(__always) var canKillNow: Bool {
        let killer = pointee.current.state
        return killer.pointee.nestedKills < ThreadState.maxNestedKills && killer.pointee.stack.isActive
            && !collectionRunsInKiller
    }

    /// Whether a collection is under way in the running greenlet. Only this thread's stack
    /// matters: another thread's collection has its frames on that thread's stack, and this
    /// one may run meanwhile (when a finalizer there lets go of the GIL, or with none).
    private var collectionRunsInKiller: Bool {
        pointee.collectingIn == pointee.current && !pointee.collectionIsOver && gl_collector_is_running() != 0
    }

    /// Kills the greenlets queued for this thread, if the running greenlet can (else they
    /// wait for a later switch).
    @inline(__always) func runPendingKills() {
        if !pointer(to: \.pendingKills)!.isEmpty && canKillNow {
            drainPendingKills()
        }
    }

    @inline(never) private func drainPendingKills() {
        // While the interpreter finalizes, the queued objects may already be gone: leak them.
        if interpreterIsFinalizing() { return }
        let me = pointee.current
        if pointee.drainingKillsIn == me { return }  // the loop below, further out, takes them
        let outer = pointee.drainingKillsIn
        pointee.drainingKillsIn = me
        while let list = pointer(to: \.pendingKills)!.takeAll() {
            // The list is ours alone now, so it cannot change under the kills.
            for index in 0..<PyList_Size(list) {
                Kill.queued(PyList_GetItem(list, index)!.asGreenlet)
            }
            list.decref()
        }
        pointee.drainingKillsIn = outer
    }
}

/// What crosses a stack switch, from the greenlet that starts it to the one that gains
/// control: filled once before the engine switches (`launch`), taken once by the side that
/// gains control (`land`). Nothing on the C stack survives the switch, so this lives in the
/// thread's state.
struct SwitchInFlight {
    /// The greenlet that gains control (borrowed: the switcher holds it).
    var target: GreenletRef? = nil
    /// CPython's thread state, looked up once by the switcher (same thread on both sides).
    var pyThreadState: PyThreadStateRef? = nil
    /// The arguments or result carried (owned); empty means an exception is pending instead.
    var carried = SwitchArgs()
    /// For a start, the callable the new greenlet runs (owned).
    var startingRun: PyRef? = nil

    var isEmpty: Bool {
        target == nil && pyThreadState == nil && carried.carriesException && startingRun == nil
    }

    /// Drops what it owns (a switch that did not happen, or a thread that is gone).
    func drop() {
        carried.drop()
        release(startingRun)
    }
}
