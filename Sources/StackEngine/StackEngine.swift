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

    public init(main: UnsafeMutablePointer<StackSlice>) {
        current = main
        origin = nil
        target = nil
        saveFailed = false
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
        let fakeStack = greenlet_asan_will_switch()
        _ = greenlet_switch_stack(thread, saveCallback, restoreCallback)
        greenlet_asan_did_switch(fakeStack)
        // Resumed: the restore callback already made this coroutine current.
        if thread.pointee.saveFailed {
            thread.pointee.saveFailed = false
            return .outOfMemory
        }
        return .resumed
    }

    /// Starts `target` on the band just below this call and runs `entry(context)` there.
    /// Returns when some coroutine switches back to the caller.
    @inline(never)
    public static func start(
        _ target: UnsafeMutablePointer<StackSlice>, on thread: UnsafeMutablePointer<SwitchContext>,
        entry: CoroutineEntry, context: UnsafeMutableRawPointer?
    ) -> SwitchOutcome {
        // Everything startBelow() and its callees use lies below this frame's stack pointer.
        let stop = greenlet_caller_stack_pointer()
        return startBelow(target, on: thread, stop: stop, entry: entry, context: context)
    }

    @inline(never)
    static func startBelow(
        _ target: UnsafeMutablePointer<StackSlice>, on thread: UnsafeMutablePointer<SwitchContext>,
        stop: UnsafeMutableRawPointer, entry: CoroutineEntry, context: UnsafeMutableRawPointer?
    ) -> SwitchOutcome {
        target.pointee.prepareStart(stop: stop, current: thread.pointee.current)
        thread.pointee.target = target
        thread.pointee.saveFailed = false
        let fakeStack = greenlet_asan_will_switch()
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

    /// Marks the current coroutine finished. Its next switch away saves none of its bytes, and
    /// nothing may switch back to it.
    public static func finishCurrent(on thread: UnsafeMutablePointer<SwitchContext>) {
        thread.pointee.current.pointee.finish()
    }
}

/// Saves every slice whose bytes lie in the target's band, innermost first, then returns the
/// target's stack pointer (or nil for a target that has not started yet).
private func saveCallback(
    _ context: UnsafeMutableRawPointer?, _ stackPointer: UnsafeMutableRawPointer
) -> UnsafeMutableRawPointer? {
    let thread = context!.assumingMemoryBound(to: SwitchContext.self)
    let target = thread.pointee.target!
    let targetStop = target.pointee.stop!
    var owner: UnsafeMutablePointer<StackSlice>? = thread.pointee.current
    if owner!.pointee.start == nil {
        // Finishing: its bytes are not worth keeping. Its frames never return, so an
        // AddressSanitizer build clears their redzones here (no-op in other builds).
        greenlet_asan_forget_frames(stackPointer, owner!.pointee.stop)
        owner = owner!.pointee.previous
    } else {
        owner!.pointee.start = stackPointer
    }
    while let slice = owner, slice.pointee.stop! < targetStop {
        // Entirely inside the target's band.
        guard slice.save(upTo: slice.pointee.stop!) else { return failSave(thread) }
        owner = slice.pointee.previous
    }
    if let slice = owner, slice != target {
        guard slice.save(upTo: targetStop) else { return failSave(thread) }
    }
    guard let targetStart = target.pointee.start else { return nil }  // starting: stay here
    return targetStart
}

private func failSave(_ thread: UnsafeMutablePointer<SwitchContext>) -> UnsafeMutableRawPointer? {
    // Slices saved so far keep their copies; their bytes are still on the stack too, so
    // nothing is lost. The current slice is running again.
    let current = thread.pointee.current
    if current.pointee.start != nil { current.pointee.start = StackSlice.running }
    thread.pointee.saveFailed = true
    return nil
}

/// Runs on the target's stack pointer: copies its bytes back and relinks the chain.
private func restoreCallback(_ context: UnsafeMutableRawPointer?) {
    let thread = context!.assumingMemoryBound(to: SwitchContext.self)
    let target = thread.pointee.target!
    let origin = thread.pointee.current
    target.restore()
    // The innermost slice that still has bytes on the stack above the target's band.
    var owner: UnsafeMutablePointer<StackSlice>? = origin.pointee.start != nil
        ? origin : origin.pointee.previous
    let targetStop = target.pointee.stop!
    while let slice = owner, slice.pointee.stop! <= targetStop {
        owner = slice.pointee.previous
    }
    target.pointee.previous = owner
    target.pointee.start = StackSlice.running
    thread.pointee.origin = origin
    thread.pointee.current = target
    thread.pointee.target = nil
}
