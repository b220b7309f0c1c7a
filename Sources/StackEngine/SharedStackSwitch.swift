import CStackSwitch

// The switch between two coroutines that share the thread's stack: the only kind there is
// until some coroutine asks for a dedicated stack, and the path every switch in copying mode
// takes. `DedicatedSwitch.swift` has the general one.

/// Saves every slice whose bytes lie in the target's band, innermost first, then returns the
/// target's stack pointer (or nil for a target that has not started yet).
func saveCallback(
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
    guard saveBand(of: target, stop: targetStop, from: owner) else { return failSave(thread) }
    return target.pointee.start  // nil for a target starting right here
}

/// Saves the slices from `owner` outward whose bytes lie in the target's band (below
/// `targetStop`). False if a heap copy could not be made.
@inline(__always)
func saveBand(
    of target: UnsafeMutablePointer<StackSlice>, stop targetStop: UnsafeMutableRawPointer,
    from first: UnsafeMutablePointer<StackSlice>?
) -> Bool {
    var owner = first
    while let slice = owner, slice.pointee.stop! < targetStop {
        // Entirely inside the target's band.
        guard slice.save(upTo: slice.pointee.stop!) else { return false }
        owner = slice.pointee.previous
    }
    if let slice = owner, slice != target {
        guard slice.save(upTo: targetStop) else { return false }
    }
    return true
}

func failSave(_ thread: UnsafeMutablePointer<SwitchContext>) -> UnsafeMutableRawPointer? {
    // Slices saved so far keep their copies; their bytes are still on the stack too, so
    // nothing is lost. The current slice is running again.
    let current = thread.pointee.current
    if current.pointee.start != nil { current.pointee.start = StackSlice.running }
    thread.pointee.retired = nil
    thread.pointee.saveFailed = true
    return nil
}

/// Runs on the target's stack pointer: copies its bytes back and relinks the chain.
func restoreCallback(_ context: UnsafeMutableRawPointer?) {
    let thread = context!.assumingMemoryBound(to: SwitchContext.self)
    let target = thread.pointee.target!
    let origin = thread.pointee.current
    target.restore()
    relink(target, below: origin.pointee.start != nil ? origin : origin.pointee.previous)
    target.pointee.start = StackSlice.running
    thread.pointee.origin = origin
    thread.pointee.current = target
    thread.pointee.target = nil
}

/// Links a restored target to the innermost slice, from `head` outward, that still has
/// bytes on the stack above its band.
@inline(__always)
func relink(_ target: UnsafeMutablePointer<StackSlice>, below head: UnsafeMutablePointer<StackSlice>?) {
    var owner = head
    let targetStop = target.pointee.stop!
    while let slice = owner, slice.pointee.stop! <= targetStop {
        owner = slice.pointee.previous
    }
    target.pointee.previous = owner
}
