import CPythonShim
import StackEngine

/// One thread's greenlet bookkeeping: its main greenlet, the running one, what a switch in
/// progress carries, and its trace function.
///
/// Created on first use in a thread, at a fixed heap address that the register switch gets as
/// its context; found again through a C thread-local.
struct ThreadState {
    /// The engine's view: which slice runs. Must stay the first field (see `engine` below).
    var stacks: StackThread
    /// The thread's main greenlet (owned).
    var main: GreenletRef
    /// The running greenlet (owned: it may have no other reference).
    var current: GreenletRef
    /// The greenlet a switch in progress goes to (borrowed; the switcher holds it).
    var target: GreenletRef?
    /// CPython's thread state, fetched by the side that starts a switch and read by the side
    /// that gains control (same thread, GIL held throughout), so it is looked up once.
    var switchingThreadState: ThreadStateRef?
    /// What a switch in progress carries; all nil means an exception is pending instead.
    var passed: SwitchArgs
    /// The callable a greenlet being started runs, from its `run` lookup to its entry (owned).
    var startingRun: PyRef?
    /// The greenlet trace function (owned), or nil.
    var trace: PyRef?
    var chunks: ChunkPool
    /// Greenlets of this thread whose last reference went away in another thread, or too
    /// deep in nested kills; they are killed here, later.
    var pendingKills: KillQueue
    /// Where this thread's C stack lies.
    let cStack: CStackRange
    /// The greenlet whose `drainPendingKills` loop is running, if any (borrowed): a kill
    /// inside that loop leaves what it queues to the loop rather than nesting another one.
    var drainingKillsIn: GreenletRef?

    static func current() -> UnsafeMutablePointer<ThreadState> {
        if let existing = greenlet_thread_state_get() {
            return existing.assumingMemoryBound(to: ThreadState.self)
        }
        return create()
    }

    /// The thread's state if it has one already; never creates it.
    static var existing: UnsafeMutablePointer<ThreadState>? {
        greenlet_thread_state_get()?.assumingMemoryBound(to: ThreadState.self)
    }

    @inline(never)
    private static func create() -> UnsafeMutablePointer<ThreadState> {
        guard let object = GreenletTypeRef.pointee.tp_alloc(GreenletTypeRef, 0) else {
            Py_FatalError(cString("greenlet: cannot allocate the main greenlet"))
        }
        let main = object.asGreenlet
        let mainState = GreenletState.attach(to: main, isMain: true)
        let state = UnsafeMutablePointer<ThreadState>.allocate(capacity: 1)
        let mainSlice = withUnsafeMutablePointer(to: &mainState.pointee.stack) { $0 }
        state.initialize(to: ThreadState(
            stacks: StackThread(main: mainSlice), main: main, current: main.object.newReference().asGreenlet,
            target: nil, switchingThreadState: nil, passed: SwitchArgs(), startingRun: nil, trace: nil, chunks: ChunkPool(), pendingKills: KillQueue(), cStack: .ofRunningThread(), drainingKillsIn: nil))
        mainState.thread = state
        ThreadExit.mainGreenlets.add(1)
        greenlet_thread_state_set(UnsafeMutableRawPointer(state))
        return state
    }
}

extension UnsafeMutablePointer where Pointee == ThreadState {
    /// The engine context handed to the register switch.
    @inline(__always) var engine: UnsafeMutablePointer<StackThread> {
        UnsafeMutableRawPointer(self).assumingMemoryBound(to: StackThread.self)
    }

    @inline(__always) var chunks: UnsafeMutablePointer<ChunkPool> {
        UnsafeMutableRawPointer(self).advanced(by: MemoryLayout<ThreadState>.offset(of: \ThreadState.chunks)!)
            .assumingMemoryBound(to: ChunkPool.self)
    }

    @inline(__always) var passed: UnsafeMutablePointer<SwitchArgs> {
        UnsafeMutableRawPointer(self).advanced(by: MemoryLayout<ThreadState>.offset(of: \ThreadState.passed)!)
            .assumingMemoryBound(to: SwitchArgs.self)
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
    @inline(__always) var canKillNow: Bool {
        let killer = pointee.current.state
        return killer.pointee.nestedKills < ThreadState.maxNestedKills && killer.pointee.stack.isActive
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
                Lifecycle.killQueued(PyList_GetItem(list, index)!.asGreenlet)
            }
            list.decref()
        }
        pointee.drainingKillsIn = outer
    }
}
