import CPythonShim

/// What happens to a thread's greenlet state when the thread exits.
///
/// The OS thread's exit hook runs without the GIL, possibly after CPython has let go of the
/// thread, so it only marks the thread dead and queues its state; a pending call destroys the
/// queue later, on whichever thread holds the GIL.
enum ThreadExit {
    nonisolated(unsafe) static var lock: PyThread_type_lock? = nil
    nonisolated(unsafe) static var queue: [UnsafeMutablePointer<ThreadState>] = []
    /// The recovery of stranded main greenlets (see `recoverStrandedReference`).
    static let optionalCleanup = OptionalCleanup()

    /// Whether the optional recovery runs, and the clocks it has spent since it was last
    /// turned on (`enable_optional_cleanup`, `get_clocks_used_doing_optional_cleanup`).
    struct OptionalCleanup {
        private let enabled = SharedCounter(1)
        let clocks = SharedCounter()

        var isEnabled: Bool { enabled.value != 0 }

        /// Turning it on again after it was off starts the clock count afresh.
        func setEnabled(_ on: Bool) {
            if on && !isEnabled { clocks.store(0) }
            enabled.store(on ? 1 : 0)
        }
    }

    static func install() -> Bool {
        lock = PyThread_allocate_lock()
        return lock != nil && greenlet_install_thread_exit_hook(threadExited) == 0
    }

    /// Runs `body` holding the lock of the exit queue and of every thread's kill queue. Held
    /// briefly, never across Python code that could reach a point where a free-threaded
    /// interpreter stops the world, so a thread blocked on it never holds that up for long.
    static func withLock<R>(_ body: () -> R) -> R {
        PyThread_acquire_lock(lock, 1)
        defer { PyThread_release_lock(lock) }
        return body()
    }

    /// Thread states waiting for destruction (`get_pending_cleanup_count`).
    static var pendingCleanupCount: Int { withLock { queue.count } }

    /// The exit hook: no GIL and no thread state here, so it writes only what is safe so:
    /// the main greenlet's link to this state (atomic), and the queue (under the lock).
    private static let threadExited: greenlet_thread_exit_fn = { raw in
        guard let raw else { return }
        let state = raw.assumingMemoryBound(to: ThreadState.self)
        // From now on this thread's greenlets count as belonging to an exited thread. This
        // comes before the state is queued for destruction, under the lock that kill queues
        // also take: a thread that finds the link set, under that lock, may still use the
        // state until it lets go of the lock.
        state.pointee.main.state.thread = nil
        guard PyInterpreterState_Head() != nil else { return }  // too late to clean up: leak
        let first: Bool = withLock {
            LiveThreads.removeLocked(state)
            queue.append(state)
            return queue.count == 1
        }
        // A finalizing interpreter cannot take pending calls: those states leak.
        if first && !interpreterIsFinalizing() && Py_AddPendingCall(destroyQueued, nil) < 0 {
            fputs("greenlet: WARNING: failed in call to Py_AddPendingCall; expect a memory leak.\n", stderr)
        }
    }

    /// The pending call: destroys queued thread states, attached to the interpreter (with
    /// the GIL where there is one).
    private static let destroyQueued: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { _ in
        while let next = withLock({ queue.isEmpty ? nil : queue.removeFirst() }) {
            destroy(next)
        }
        return 0
    }

    /// Releases what a dead thread's state holds. Its greenlets become dead once nothing
    /// refers to them; those that were suspended never run again.
    static func destroy(_ state: UnsafeMutablePointer<ThreadState>) {
        assert(PyGILState_Check() != 0, "a dead thread's state is destroyed attached to the interpreter")
        let main = state.pointee.main
        main.state.thread = nil
        // Its greenlets are all dead now. Under the lock: a greenlet of this thread that dies
        // elsewhere meanwhile leaves the registry under it too (`leaveRegistryFromAnyThread`).
        withLock { state.registry.dissolve() }
        let current = state.pointee.current
        if current != main {
            // The thread ended while this greenlet ran: CPython already freed its data
            // stack along with the thread state, and it can never run again.
            let currentState = current.state
            currentState.python.abandonAfterThreadClear()
            currentState.dropRunningCall()
            if currentState.pointee.stack.isActive { currentState.pointee.stack.finish() }
        }
        let trace = state.pointee.trace
        state.pointee.trace = nil
        let retiredTraces = state.pointee.retiredTraces
        state.pointee.retiredTraces = []
        let kills = state.pointer(to: \.pendingKills)!.takeAll()
        DataStackChunkPool.drain(state.chunks)
        state.pointee.switchContext.drainPool()
        state.land().drop()
        state.deinitialize(count: 1)
        state.deallocate()
        release(trace)
        retiredTraces.forEach { $0.decref() }
        release(kills)
        current.object.decref()
        let mainWasCurrent = current == main
        let referencesBeyondOurs = gl_refcnt(main.object) - 1
        main.object.decref()
        if mainWasCurrent && referencesBeyondOurs == 1 {
            recoverStrandedReference(to: main)
        }
    }

    /// A suspended greenlet of the dead thread may have held the main greenlet from a frame
    /// that can never run again (it was switching to it); that reference is then unreachable
    /// and the main greenlet would leak. If the collector knows of no referrer at all, drop
    /// it. This costs a heap walk, so it can be turned off (`enable_optional_cleanup`).
    private static func recoverStrandedReference(to main: GreenletRef) {
        guard optionalCleanup.isEnabled, !interpreterIsFinalizing() else { return }
        let began = clock()
        let pending = PendingException.take()
        if let gc = PyImport_ImportModule("gc") {
            let getReferrers = PyObject_GetAttrString(gc, "get_referrers")
            if let getReferrers, let referrers = PyObject_CallOneArg(getReferrers, main.object) {
                if PyList_Size(referrers) == 0 { main.object.decref() }
                referrers.decref()
            }
            release(getReferrers)
            gc.decref()
        }
        PyErr_Clear()
        pending.restore()
        optionalCleanup.clocks.add(Int(clock() - began))
    }
}
