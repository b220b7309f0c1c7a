import CPythonShim

/// C-level switch hooks for profilers (`PyGreenlet_AddSwitchHook`, in the capsule
/// `greenlet._C_API_EXT`): called on every switch, in the switching thread, with no Python
/// object made.
///
/// The hooks sit in a table terminated by a nil hook, which writers build anew and publish
/// whole with one atomic store; a switch reads the table pointer once. With no hook, that load
/// and a test are all a switch pays. Writers are serialized by `ThreadExit`'s lock. A replaced
/// table is never freed, only kept in `retired`: a switch in another thread may still be
/// reading it, and hooks are added a few times in a process's life, not per request.
enum SwitchHooks {
    struct Entry {
        var hook: PyGreenlet_SwitchHook?
        var argument: UnsafeMutableRawPointer?
    }

    /// More than any profiler stack needs; the table is a fixed small array.
    static let capacity = 16

    /// Tables replaced since the module was imported; the lock is held.
    nonisolated(unsafe) private static var retired: [UnsafeMutablePointer<Entry>] = []

    @inline(__always) static var table: UnsafeMutablePointer<Entry>? {
        gl_switch_hooks_get()?.assumingMemoryBound(to: Entry.self)
    }

    /// Calls every hook for a switch from `origin` to `target`.
    @inline(never)
    static func call(_ table: UnsafeMutablePointer<Entry>, origin: GreenletRef, target: GreenletRef) {
        var entry = table
        while let hook = entry.pointee.hook {
            hook(origin, target, entry.pointee.argument)
            entry += 1
        }
    }

    static func add(_ hook: PyGreenlet_SwitchHook?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
        guard let hook else {
            setError(PyExc_ValueError, "PyGreenlet_AddSwitchHook: the hook is NULL")
            return -1
        }
        let added: Bool = ThreadExit.withLock {
            var entries = current()
            guard entries.count < capacity else { return false }
            entries.append(Entry(hook: hook, argument: argument))
            publish(entries)
            return true
        }
        if !added {
            setError(PyExc_RuntimeError, format: "PyGreenlet_AddSwitchHook: there are %d hooks already",
                     Int32(capacity))
            return -1
        }
        return 0
    }

    static func remove(_ hook: PyGreenlet_SwitchHook?, _ argument: UnsafeMutableRawPointer?) -> Int32 {
        let removed: Bool = ThreadExit.withLock {
            var entries = current()
            guard let index = entries.firstIndex(where: {
                $0.hook.map { unsafeBitCast($0, to: UnsafeRawPointer.self) } ==
                    hook.map { unsafeBitCast($0, to: UnsafeRawPointer.self) } && $0.argument == argument
            }) else { return false }
            entries.remove(at: index)
            publish(entries)
            return true
        }
        if !removed {
            setError(PyExc_ValueError, "PyGreenlet_RemoveSwitchHook: no such hook")
            return -1
        }
        return 0
    }

    /// The hooks now; the lock is held.
    private static func current() -> [Entry] {
        var entries: [Entry] = []
        var entry = table
        while let next = entry, next.pointee.hook != nil {
            entries.append(next.pointee)
            entry = next + 1
        }
        return entries
    }

    /// Publishes a new table (nil when empty); the lock is held.
    private static func publish(_ entries: [Entry]) {
        if let old = table { retired.append(old) }
        guard !entries.isEmpty else {
            gl_switch_hooks_set(nil)
            return
        }
        let table = UnsafeMutablePointer<Entry>.allocate(capacity: entries.count + 1)
        table.initialize(from: entries, count: entries.count)
        (table + entries.count).initialize(to: Entry(hook: nil, argument: nil))
        gl_switch_hooks_set(UnsafeMutableRawPointer(table))
    }
}
