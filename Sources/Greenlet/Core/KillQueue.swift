import CPythonShim

/// Greenlets waiting to be killed by their own thread, the only one that can run them: those
/// whose last reference went away in another thread, and those whose kill would have nested
/// too deep. Held in a Python list, which keeps each greenlet alive until it is killed.
///
/// Other threads append to it, so every access holds `ThreadExit`'s lock, except the owning
/// thread's check for work on each switch, which is one atomic load.
struct KillQueue {
    /// The list (owned), or nil when empty.
    var list: UnsafeMutableRawPointer? = nil

    enum Outcome {
        case queued
        /// Memory ran out (no exception is left set).
        case failed
        /// The greenlet's thread has exited: nothing can run it any more.
        case threadExited
    }

    /// Queues `greenlet` to be killed by the thread it belongs to: `thread` if given (the
    /// caller's own), else whichever it is, looked up under the lock so that the thread's
    /// state cannot be destroyed meanwhile (its exit hook marks it exited before queuing it
    /// for destruction, under the same lock).
    static func enqueue(_ greenlet: GreenletRef, on thread: UnsafeMutablePointer<ThreadState>? = nil) -> Outcome {
        // Made before taking the lock: making an object may run the collector, and its
        // finalizers may queue kills too.
        var spare = PyList_New(0)
        let outcome: Outcome = ThreadExit.withLock {
            guard let owner = thread ?? greenlet.state.owningThread else { return .threadExited }
            let queue = owner.pointer(to: \.pendingKills)!
            var list = queue.pointee.list?.assumingMemoryBound(to: PyObject.self)
            if list == nil, let fresh = spare {
                gl_atomic_store_pointer(queue.pointer(to: \.list), UnsafeMutableRawPointer(fresh))
                list = fresh
                spare = nil
            }
            guard let list, PyList_Append(list, greenlet.object) == 0 else { return .failed }
            return .queued
        }
        release(spare)
        if outcome == .failed { PyErr_Clear() }
        return outcome
    }
}

extension UnsafeMutablePointer where Pointee == KillQueue {
    var isEmpty: Bool { gl_atomic_load_pointer(pointer(to: \.list)) == nil }

    /// Empties the queue; the caller owns the list it returns.
    func takeAll() -> PyRef? {
        if isEmpty { return nil }
        return ThreadExit.withLock {
            let list = pointee.list?.assumingMemoryBound(to: PyObject.self)
            gl_atomic_store_pointer(pointer(to: \.list), nil)
            return list
        }
    }
}
