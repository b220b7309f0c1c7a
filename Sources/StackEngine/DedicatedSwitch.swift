import CStackSwitch

// The switch when a coroutine on a dedicated stack is on either side, and the launch of a
// coroutine on fresh stack memory. A coroutine on a dedicated stack is never saved: nothing
// else runs on its memory. When the target has a dedicated stack, nothing on the thread's
// stack moves either; when it shares the thread's stack, the slices there are saved from
// the innermost one (`SwitchContext.shared`), as any copying switch does.

extension UnsafeMutablePointer where Pointee == SwitchContext {
    /// The innermost slice with bytes on the thread's stack once `leaving` has switched away
    /// (or finished): `leaving` itself, unless it finished or runs on a dedicated stack.
    @inline(__always)
    func chainHead(leaving: UnsafeMutablePointer<StackSlice>) -> UnsafeMutablePointer<StackSlice>? {
        if leaving.pointee.isDedicated { return pointee.shared }
        return leaving.pointee.start != nil ? leaving : leaving.pointee.previous
    }

    /// A dedicated stack of `size` bytes: a kept one, or a new mapping.
    func acquireStack(size: Int) -> DedicatedStack? {
        pointee.pool.take(size: size) ?? DedicatedStack.map(size: size)
    }

    /// Gives the stack of a coroutine that finished on it to the pool. Runs on the next
    /// coroutine's stack, once nothing runs on the finished one.
    @inline(__always)
    func releaseRetired() {
        guard let retired = pointee.retired else { return }
        pointee.retired = nil
        if let stack = retired.pointee.dedicatedStack {
            retired.pointee.stackBase = nil
            pointee.pool.give(stack)
        }
    }
}

/// The general save callback: any switch with a dedicated stack on either side, and every
/// launch.
func mixedSaveCallback(
    _ context: UnsafeMutableRawPointer?, _ stackPointer: UnsafeMutableRawPointer
) -> UnsafeMutableRawPointer? {
    let thread = context!.assumingMemoryBound(to: SwitchContext.self)
    let target = thread.pointee.target!
    let current = thread.pointee.current
    var owner: UnsafeMutablePointer<StackSlice>?
    if current.pointee.isDedicated {
        if current.pointee.start == nil {
            thread.pointee.retired = current  // finishing: its stack goes once we are off it
        } else {
            current.pointee.start = stackPointer
        }
        owner = thread.pointee.shared
    } else if current.pointee.start == nil {
        greenlet_asan_forget_frames(stackPointer, current.pointee.stop)
        owner = current.pointee.previous
    } else {
        current.pointee.start = stackPointer
        owner = current
    }
    if target.pointee.isDedicated {
        assert(owner != nil, "some slice has bytes on the thread's stack: main's, at least")
        thread.pointee.shared = owner.unsafelyUnwrapped
        return target.pointee.start ?? thread.pointee.launchPoint
    }
    guard saveBand(of: target, stop: target.pointee.stop!, from: owner) else { return failSave(thread) }
    return target.pointee.start ?? thread.pointee.launchPoint
}

/// The general restore callback, on the target's stack pointer.
func mixedRestoreCallback(_ context: UnsafeMutableRawPointer?) {
    let thread = context!.assumingMemoryBound(to: SwitchContext.self)
    let target = thread.pointee.target!
    let origin = thread.pointee.current
    if !target.pointee.isDedicated {
        target.restore()
        relink(target, below: thread.chainHead(leaving: origin))
    }
    target.pointee.start = StackSlice.running
    thread.pointee.origin = origin
    thread.pointee.current = target
    thread.pointee.target = nil
    thread.releaseRetired()
}

/// Runs at the launch point of a coroutine started on fresh stack memory: makes it current,
/// then runs its entry, which never returns.
func launchCallback(_ context: UnsafeMutableRawPointer?) {
    let thread = context!.assumingMemoryBound(to: SwitchContext.self)
    let target = thread.pointee.target!
    let entry = thread.pointee.launchEntry!
    let entryContext = thread.pointee.launchContext
    thread.pointee.launchPoint = nil
    thread.pointee.launchEntry = nil
    thread.pointee.launchContext = nil
    target.pointee.start = StackSlice.running
    thread.pointee.origin = thread.pointee.current
    thread.pointee.current = target
    thread.pointee.target = nil
    thread.releaseRetired()
    greenlet_asan_did_switch(nil)
    entry(entryContext)
    fatalError("a coroutine entry returned; it must switch away for good")
}
