import CPythonShim

/// The live greenlets of one thread, for `greenlet.enumerate()` and `greenlet.stats()`.
///
/// An intrusive doubly linked list through the greenlets' states: O(1) to add and to remove,
/// with no Python object made and no reference held. Live means started and not dead, plus
/// the thread's main greenlet, which is first. A greenlet joins when it starts, and leaves
/// when it finishes, or dies without finishing (its thread exited, or the interpreter is
/// finalizing). What a greenlet counted (`gr_switches`, bytes copied) goes into the
/// thread's `retired` totals when it leaves, so that per-thread sums cover the dead too.
///
/// Only the owning thread adds and removes, except for the rare deaths that happen
/// elsewhere (`Kill.forgetOrphan`, `ThreadExit.destroy`), which also hold `ThreadExit`'s lock.
/// Other threads read the list (`enumerate_all`). With the GIL, all of this is serialized;
/// without it, the list's own spin lock covers every change and every read.
struct GreenletRegistry {
    fileprivate(set) var first: UnsafeMutablePointer<GreenletState>? = nil
    fileprivate(set) var last: UnsafeMutablePointer<GreenletState>? = nil
    fileprivate(set) var count = 0
    /// Greenlets created while this thread was current (`greenlet()` and `PyGreenlet_New`).
    var created = 0
    /// What the greenlets that left the list had counted.
    var retired = GreenletTotals()
    /// The spin lock's word; used only on free-threaded builds.
    var lockWord: Int32 = 0
}

/// Where a greenlet's state sits in its thread's registry.
struct RegistryLink {
    var previous: UnsafeMutablePointer<GreenletState>? = nil
    var next: UnsafeMutablePointer<GreenletState>? = nil
    /// The registry the greenlet is on, or nil.
    var registry: UnsafeMutablePointer<GreenletRegistry>? = nil
}

/// Counters summed over greenlets.
struct GreenletTotals {
    var switches = 0
    var bytesCopied = 0
    var stackSavedMax = 0
    var runNanoseconds = 0

    mutating func add(_ state: UnsafeMutablePointer<GreenletState>) {
        switches += state.pointee.switches
        bytesCopied += state.pointee.stack.bytesCopied
        stackSavedMax = max(stackSavedMax, state.pointee.stack.savedMax)
        runNanoseconds += state.pointee.runNanoseconds
    }
}

extension UnsafeMutablePointer where Pointee == GreenletRegistry {
    @inline(__always) private var lockWord: UnsafeMutablePointer<Int32> { pointer(to: \.lockWord)! }

    /// Runs `body` holding the list's lock (free-threaded builds; nothing with the GIL). No
    /// Python code may run inside: it could need another thread that waits for this lock.
    @inline(__always)
    func withLock<R>(_ body: () -> R) -> R {
        gl_spin_lock(lockWord)
        defer { gl_spin_unlock(lockWord) }
        return body()
    }

    /// Appends a greenlet that is starting (or a new main greenlet).
    func add(_ state: UnsafeMutablePointer<GreenletState>) {
        assert(state.pointee.registryLink.registry == nil, "a greenlet joins one registry once")
        gl_allow_try_incref(state.pointee.object.object)  // for `takeReferences` in other threads
        withLock {
            state.pointee.registryLink = RegistryLink(previous: pointee.last, next: nil, registry: self)
            if let last = pointee.last { last.pointee.registryLink.next = state } else { pointee.first = state }
            pointee.last = state
            pointee.count += 1
        }
    }

    /// Takes a greenlet off the list, keeping its counts in `retired`.
    func remove(_ state: UnsafeMutablePointer<GreenletState>) {
        withLock { unlink(state) }
    }

    /// The list itself; the lock is held.
    private func unlink(_ state: UnsafeMutablePointer<GreenletState>) {
        let link = state.pointee.registryLink
        assert(link.registry == self, "a greenlet leaves the registry it is on")
        if let previous = link.previous { previous.pointee.registryLink.next = link.next } else { pointee.first = link.next }
        if let next = link.next { next.pointee.registryLink.previous = link.previous } else { pointee.last = link.previous }
        state.pointee.registryLink = RegistryLink()
        pointee.count -= 1
        pointee.retired.add(state)
    }

    /// Empties the list of a thread that has exited: its greenlets are all dead now.
    func dissolve() {
        withLock {
            while let state = pointee.first { unlink(state) }
        }
    }

    /// New references to the listed greenlets, in order (main first), skipping any whose
    /// count already reached zero: it is being deallocated, and is not taken back to life.
    func takeReferences() -> [GreenletRef] {
        withLock {
            var refs: [GreenletRef] = []
            refs.reserveCapacity(pointee.count)
            var next = pointee.first
            while let state = next {
                if gl_try_incref(state.pointee.object.object) != 0 { refs.append(state.pointee.object) }
                next = state.pointee.registryLink.next
            }
            return refs
        }
    }

    /// The thread's totals: the retired ones plus those of the listed greenlets, the heap the
    /// listed ones hold for stack copies, and how many are listed.
    func totals() -> (totals: GreenletTotals, heapBytes: Int, live: Int, created: Int) {
        withLock {
            var totals = pointee.retired
            var heap = 0
            var next = pointee.first
            while let state = next {
                totals.add(state)
                heap += state.pointee.stack.heapBytes
                next = state.pointee.registryLink.next
            }
            return (totals, heap, pointee.count, pointee.created)
        }
    }
}

extension UnsafeMutablePointer where Pointee == GreenletState {
    /// Takes a greenlet that dies away from its thread off the registry, if it is on one:
    /// its thread has exited (the registry may be dissolving right now) or the interpreter
    /// is finalizing. Holds `ThreadExit`'s lock, which `ThreadExit.destroy` holds while it
    /// dissolves the registry, so the registry cannot be freed meanwhile.
    func leaveRegistryFromAnyThread() {
        ThreadExit.withLock {
            pointee.registryLink.registry?.remove(self)
        }
    }
}

/// The threads that have greenlet state, for `enumerate_all()` and `stats()`: a list through
/// their states, changed and read under `ThreadExit`'s lock. A thread joins when its state is
/// created and leaves in its exit hook, before its state is queued for destruction, so every
/// state on the list is alive while the lock is held.
enum LiveThreads {
    /// The first thread state, kept in a C global whose address the offsets table publishes.
    private static var first: UnsafeMutablePointer<ThreadState>? {
        get { gl_live_threads?.assumingMemoryBound(to: ThreadState.self) }
        set { gl_live_threads = newValue.map { UnsafeMutableRawPointer($0) } }
    }

    /// Lists a new thread, and gives it the trace function of `settrace_all`, under the same
    /// lock as `settrace_all` takes: a thread created meanwhile gets the new function.
    static func add(_ thread: UnsafeMutablePointer<ThreadState>) {
        ThreadExit.withLock {
            thread.pointee.trace = Tracer.forNewThreads?.newReference()
            thread.pointee.nextThread = first
            thread.pointee.previousThread = nil
            first?.pointee.previousThread = thread
            first = thread
        }
    }

    /// Called holding `ThreadExit`'s lock.
    static func removeLocked(_ thread: UnsafeMutablePointer<ThreadState>) {
        let next = thread.pointee.nextThread, previous = thread.pointee.previousThread
        if let previous { previous.pointee.nextThread = next } else { first = next }
        next?.pointee.previousThread = previous
        thread.pointee.nextThread = nil
        thread.pointee.previousThread = nil
    }

    /// Runs `body` for each thread, holding `ThreadExit`'s lock: `body` must not run Python
    /// code or allocate Python objects.
    static func forEachLocked(_ body: (UnsafeMutablePointer<ThreadState>) -> Void) {
        ThreadExit.withLock {
            var next = first
            while let thread = next {
                body(thread)
                next = thread.pointee.nextThread
            }
        }
    }
}
