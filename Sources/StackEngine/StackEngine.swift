import CStackSwitch

/// The per-thread switching context: which slice runs, which one a switch goes to, and the
/// slice of the thread's main coroutine.
///
/// It lives on the heap at a stable address and is handed to the register switch as its
/// context, so the save and restore callbacks reach it without thread-locals and without
/// anything that lives in the band they copy.
public struct SwitchContext {
    /// The slice whose coroutine runs now.
    public internal(set) var current: UnsafeMutablePointer<StackSlice>
    /// The slice that was current before the last completed switch.
    public internal(set) var origin: UnsafeMutablePointer<StackSlice>?
    /// The slice a switch in progress goes to.
    var target: UnsafeMutablePointer<StackSlice>?
    /// Set by the save callback when a heap copy could not be made.
    var saveFailed: Bool
    /// While a coroutine on a dedicated stack runs: the innermost slice that has bytes on
    /// the thread's stack, where the chain of slices sharing it begins.
    var shared: UnsafeMutablePointer<StackSlice>
    /// A coroutine that finished on its dedicated stack: the stack is given back once the
    /// switch has left it.
    var retired: UnsafeMutablePointer<StackSlice>?
    /// For a start on fresh stack memory: where the new coroutine's stack pointer begins,
    /// and what it runs there.
    var launchPoint: UnsafeMutableRawPointer?
    var launchEntry: CoroutineEntry?
    var launchContext: UnsafeMutableRawPointer?
    /// Dedicated stacks kept for reuse.
    public internal(set) var pool: StackPool
    /// Some coroutine of this thread asked for a dedicated stack: switches must look at
    /// both sides. Until then every switch takes the copying path after one test.
    var usesDedicatedStacks: Bool

    public init(main: UnsafeMutablePointer<StackSlice>) {
        current = main
        origin = nil
        target = nil
        saveFailed = false
        shared = main
        retired = nil
        launchPoint = nil
        launchEntry = nil
        launchContext = nil
        pool = StackPool()
        usesDedicatedStacks = false
    }

    /// Where a coroutine sharing the thread's stack would begin if the current coroutine
    /// started one now, when that is not right below the current one: the stack pointer of
    /// the innermost slice with bytes on the thread's stack, if the current coroutine runs on
    /// a dedicated stack; nil otherwise.
    public var threadStackLaunchPoint: UnsafeMutableRawPointer? {
        current.pointee.isDedicated ? shared.pointee.start : nil
    }

    /// Unmaps the kept stacks, for a thread that ends.
    public mutating func drainPool() {
        pool.drain()
    }
}

/// How a switch ended, seen from the coroutine that asked for it.
public enum SwitchOutcome {
    /// Another coroutine switched back to this one later.
    case resumed
    /// A heap copy failed; nothing moved and the caller is still current.
    case outOfMemory
}

/// The entry point of a started coroutine. It runs on the coroutine's own band and must end
/// by switching away after `finishCurrent`; it never returns.
public typealias CoroutineEntry = @convention(c) (UnsafeMutableRawPointer?) -> Void

/// The engine: switching, starting and finishing coroutines that share one C stack.
///
/// Everything takes pointers, never `inout`: a switch suspends the caller in the middle of the
/// call, and the compiler must reload every field from memory when it resumes.
public enum StackEngine {
    /// Switches from the current coroutine to `target`, which must be suspended on this thread.
    /// Returns when some coroutine switches back to the caller.
    @inline(never)
    public static func resume(
        _ target: UnsafeMutablePointer<StackSlice>, on thread: UnsafeMutablePointer<SwitchContext>
    ) -> SwitchOutcome {
        precondition(target.pointee.isActive && target != thread.pointee.current,
                     "resume needs a suspended coroutine")
        thread.pointee.target = target
        thread.pointee.saveFailed = false
        let fakeStack = greenlet_asan_will_switch(target.pointee.stackBase, target.pointee.stackSize)
        if thread.pointee.usesDedicatedStacks
            && (target.pointee.isDedicated || thread.pointee.current.pointee.isDedicated) {
            _ = greenlet_switch_stack(thread, mixedSaveCallback, mixedRestoreCallback)
        } else {
            _ = greenlet_switch_stack(thread, saveCallback, restoreCallback)
        }
        greenlet_asan_did_switch(fakeStack)
        // Resumed: the restore callback already made this coroutine current.
        if thread.pointee.saveFailed {
            thread.pointee.saveFailed = false
            return .outOfMemory
        }
        return .resumed
    }

    /// Starts `target`, and runs `entry(context)` on its stack: a dedicated stack if it asked
    /// for one and the system gives one, else the band of the thread's stack just below this
    /// call (or, when a coroutine on a dedicated stack starts it, below the innermost slice
    /// that has bytes on the thread's stack). Returns when some coroutine switches back.
    @inline(never)
    public static func start(
        _ target: UnsafeMutablePointer<StackSlice>, on thread: UnsafeMutablePointer<SwitchContext>,
        entry: CoroutineEntry, context: UnsafeMutableRawPointer?
    ) -> SwitchOutcome {
        if thread.pointee.usesDedicatedStacks || target.pointee.isDedicated {
            thread.pointee.usesDedicatedStacks = true
            if target.pointee.isDedicated || thread.pointee.current.pointee.isDedicated {
                return launch(target, on: thread, entry: entry, context: context)
            }
        }
        // Everything startBelow() and its callees use lies below this frame's stack pointer.
        let stop = greenlet_caller_stack_pointer()
        return startBelow(target, on: thread, stop: stop, entry: entry, context: context)
    }

    @inline(never)
    static func startBelow(
        _ target: UnsafeMutablePointer<StackSlice>, on thread: UnsafeMutablePointer<SwitchContext>,
        stop: UnsafeMutableRawPointer, entry: CoroutineEntry, context: UnsafeMutableRawPointer?
    ) -> SwitchOutcome {
        target.pointee.prepareStart(stop: stop, previous: thread.chainHead(leaving: thread.pointee.current))
        thread.pointee.target = target
        thread.pointee.saveFailed = false
        let fakeStack = greenlet_asan_will_switch(nil, 0)
        let switched = greenlet_switch_stack(thread, saveCallback, restoreCallback)
        // The starter has a fake stack to take back; a new coroutine starts with none.
        greenlet_asan_did_switch(switched == 0 ? fakeStack : nil)
        if switched == 0 {
            return .resumed  // the starter, switched back to later
        }
        if thread.pointee.saveFailed {
            thread.pointee.saveFailed = false
            target.pointee.abandonStart()
            return .outOfMemory
        }
        // Now the new coroutine, on the same stack pointer, with nothing to restore.
        thread.pointee.origin = thread.pointee.current
        thread.pointee.current = target
        target.pointee.start = StackSlice.running
        entry(context)
        fatalError("a coroutine entry returned; it must switch away for good")
    }

    /// Starts `target` with its stack pointer moved to fresh memory: the top of its own
    /// dedicated stack, or, for a coroutine that shares the thread's stack but is started
    /// from a dedicated one, just below the innermost slice with bytes there.
    @inline(never)
    static func launch(
        _ target: UnsafeMutablePointer<StackSlice>, on thread: UnsafeMutablePointer<SwitchContext>,
        entry: CoroutineEntry, context: UnsafeMutableRawPointer?
    ) -> SwitchOutcome {
        let point: UnsafeMutableRawPointer
        if target.pointee.isDedicated, let stack = thread.acquireStack(size: target.pointee.stackSize) {
            target.pointee.stackBase = stack.base
            point = stack.launchPoint()
            target.pointee.prepareStart(stop: stack.top, previous: nil)
        } else {
            if target.pointee.isDedicated {
                // The system has no stack to give: run on the thread's stack instead.
                target.pointee.stackSize = 0
                target.pointee.dedicatedStackRefused = true
                if !thread.pointee.current.pointee.isDedicated {
                    let stop = greenlet_caller_stack_pointer()
                    return startBelow(target, on: thread, stop: stop, entry: entry, context: context)
                }
            }
            let head = thread.pointee.shared
            point = DedicatedStack.launchPoint(below: head.pointee.start!)
            target.pointee.prepareStart(stop: point, previous: head)
        }
        thread.pointee.target = target
        thread.pointee.saveFailed = false
        thread.pointee.launchPoint = point
        thread.pointee.launchEntry = entry
        thread.pointee.launchContext = context
        let fakeStack = greenlet_asan_will_switch(target.pointee.stackBase, target.pointee.stackSize)
        _ = greenlet_switch_stack(thread, mixedSaveCallback, launchCallback)
        // Only the starter comes back here: resumed later, or refused memory for a save.
        greenlet_asan_did_switch(fakeStack)
        thread.pointee.launchPoint = nil
        thread.pointee.launchEntry = nil
        thread.pointee.launchContext = nil
        if thread.pointee.saveFailed {
            thread.pointee.saveFailed = false
            if let stack = target.pointee.dedicatedStack {
                thread.pointee.pool.give(stack)
                target.pointee.stackBase = nil
            }
            target.pointee.abandonStart()
            return .outOfMemory
        }
        return .resumed
    }

    /// Marks the current coroutine finished. Its next switch away saves none of its bytes, and
    /// nothing may switch back to it.
    public static func finishCurrent(on thread: UnsafeMutablePointer<SwitchContext>) {
        thread.pointee.current.pointee.finish()
    }
}
