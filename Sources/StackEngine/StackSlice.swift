import CStackSwitch

// No C library import here: clients of this module also import CPython's headers, whose
// feature macros give libc types other layouts, and the two views must never meet.

/// One coroutine's band of the C stack, `[start, stop)`, and the heap copy of whatever part of it
/// another coroutine has overwritten.
///
/// The slice lives at a fixed address for the coroutine's whole life (inside its owner's heap
/// state), because other slices link to it through `previous`. It holds no references that need
/// ARC, so it can be read and written on the switch path for free.
public struct StackSlice {
    /// The stack pointer at the coroutine's last suspension; `StackSlice.running` while it runs;
    /// `nil` before it starts and after it finishes.
    public internal(set) var start: UnsafeMutableRawPointer?
    /// The highest address of the band; `nil` before the coroutine starts.
    public internal(set) var stop: UnsafeMutableRawPointer?
    /// Heap copy of `[start, start + savedBytes)`. Kept between suspensions so that it is reused.
    var copy: UnsafeMutableRawPointer?
    var capacity: Int
    /// How many bytes of the band, counted from `start`, are in `copy` rather than on the stack.
    public internal(set) var savedBytes: Int
    /// The next slice outward on the stack that still has bytes there, if any.
    var previous: UnsafeMutablePointer<StackSlice>?
    /// Bytes copied for this slice so far, saves and restores together: what its switches
    /// cost in `memcpy`. Kept across `finish`, for statistics.
    public internal(set) var bytesCopied: Int
    /// The most bytes of the band ever held in the heap copy at once.
    public internal(set) var savedMax: Int
    /// The size of the dedicated stack the coroutine runs on; 0 for a band of the thread's
    /// stack. Chosen before the start, and kept after the finish, for statistics.
    public internal(set) var stackSize: Int
    /// The base of its dedicated stack, from its start until it finishes.
    var stackBase: UnsafeMutableRawPointer?
    /// A dedicated stack was asked for, but the system had none to give (out of mappings or
    /// memory): the coroutine runs on a band of the thread's stack instead.
    public internal(set) var dedicatedStackRefused: Bool

    /// Stands in for `start` while the coroutine runs: it has a band, but no fixed bottom yet.
    public static let running = UnsafeMutableRawPointer(bitPattern: 1)!
    /// The stop of a thread's main slice, which lies above everything started from it.
    static let top = UnsafeMutableRawPointer(bitPattern: UInt.max)!

    /// A slice that has not started.
    public init() {
        start = nil
        stop = nil
        copy = nil
        capacity = 0
        savedBytes = 0
        previous = nil
        bytesCopied = 0
        savedMax = 0
        stackSize = 0
        stackBase = nil
        dedicatedStackRefused = false
    }

    /// The slice of a thread's main coroutine: running, with a band that covers the whole stack.
    public static func main() -> StackSlice {
        var slice = StackSlice()
        slice.start = running
        slice.stop = top
        return slice
    }

    /// Started and not finished: it has a band (running, or suspended with a stack pointer).
    public var isActive: Bool { start != nil }
    /// It was given a band at some point.
    public var isStarted: Bool { stop != nil }
    /// Started, then finished.
    public var isFinished: Bool { stop != nil && start == nil }

    /// Bytes of heap held for copies, saved or kept for reuse.
    public var heapBytes: Int { capacity }

    /// It runs, or will run, on a stack of its own.
    @inline(__always)
    public var isDedicated: Bool { stackSize != 0 }

    /// Its dedicated stack, while it has one.
    public var dedicatedStack: DedicatedStack? {
        stackBase.map { DedicatedStack(base: $0, size: stackSize) }
    }

    /// Asks that the coroutine run on a dedicated stack of `size` bytes (a size that
    /// `DedicatedStack.normalizedSize` returned). Only before it starts.
    public mutating func requestDedicatedStack(size: Int) {
        precondition(stop == nil, "the stack is chosen before the start")
        precondition(DedicatedStack.normalizedSize(size) == size, "a normalized stack size")
        stackSize = size
    }

    /// Unmaps the dedicated stack of a coroutine that will never run again but did not finish
    /// (its thread is gone). A finished coroutine's stack went back to its thread's pool.
    public mutating func releaseStack() {
        if let stack = dedicatedStack { stack.unmap() }
        stackBase = nil
    }
}

extension StackSlice {
    /// Gives a new coroutine the band below `stop`, linked to `previous`, the innermost slice
    /// that has bytes on the thread's stack above it (nil for a dedicated stack).
    mutating func prepareStart(stop: UnsafeMutableRawPointer, previous: UnsafeMutablePointer<StackSlice>?) {
        precondition(self.stop == nil, "a coroutine starts only once")
        self.start = nil
        self.stop = stop
        self.savedBytes = 0
        self.previous = previous
    }

    /// Undoes `prepareStart` after a failed first switch, so that the start can be retried.
    mutating func abandonStart() {
        start = nil
        stop = nil
        previous = nil
        savedBytes = 0
    }

    /// Marks the slice finished and gives back its heap copy. Its bytes on the stack, if any,
    /// become garbage that no other slice will save.
    public mutating func finish() {
        precondition(start != nil, "only an active coroutine finishes")
        start = nil
        releaseCopy()
    }

    /// Frees the heap copy. Only for a slice that is finished, never started, or about to be
    /// thrown away.
    public mutating func releaseCopy() {
        if let copy { StackMemory.free(copy) }
        copy = nil
        capacity = 0
        savedBytes = 0
    }
}

extension UnsafeMutablePointer where Pointee == StackSlice {
    /// Copies the band's bytes below `limit` that are not yet on the heap. Returns false if the
    /// heap copy could not grow; the slice is then unchanged.
    @inline(__always)
    func save(upTo limit: UnsafeMutableRawPointer) -> Bool {
        let start = pointee.start!
        let wanted = limit - start
        let saved = pointee.savedBytes
        guard wanted > saved else { return true }
        if wanted > pointee.capacity {
            guard grow(to: Swift.max(wanted, pointee.capacity * 2), keeping: saved) else { return false }
        }
        greenlet_asan_unpoison(start + saved, wanted - saved)
        (pointee.copy.unsafelyUnwrapped + saved).copyMemory(from: start + saved, byteCount: wanted - saved)
        pointee.savedBytes = wanted
        pointee.bytesCopied &+= wanted - saved
        if wanted > pointee.savedMax { pointee.savedMax = wanted }
        return true
    }

    /// Replaces the heap copy with a larger one that keeps its first `keeping` bytes.
    /// Returns false, changing nothing, if the memory cannot be had.
    @inline(never)
    func grow(to capacity: Int, keeping: Int) -> Bool {
        guard let bigger = StackMemory.allocate(capacity) else { return false }
        if let old = pointee.copy {
            bigger.copyMemory(from: old, byteCount: keeping)
            StackMemory.free(old)
        }
        pointee.copy = bigger
        pointee.capacity = capacity
        return true
    }

    /// Puts the saved bytes back at their old addresses. The copy is kept for the next save.
    @inline(__always)
    func restore() {
        let saved = pointee.savedBytes
        if saved > 0 {
            greenlet_asan_unpoison(pointee.start.unsafelyUnwrapped, saved)
            pointee.start.unsafelyUnwrapped.copyMemory(from: pointee.copy.unsafelyUnwrapped, byteCount: saved)
            pointee.savedBytes = 0
            pointee.bytesCopied &+= saved
        }
    }
}

/// Where heap copies of stack slices come from. A client may plug in its own allocator (the
/// greenlet module uses Python's, as C extensions should); the default is Swift's.
public enum StackMemory {
    public typealias Allocate = @convention(c) (Int) -> UnsafeMutableRawPointer?
    public typealias Free = @convention(c) (UnsafeMutableRawPointer?) -> Void

    /// Returns nil when memory cannot be had; a failed save then fails the switch cleanly.
    nonisolated(unsafe) public static var allocate: Allocate = swiftAllocate
    nonisolated(unsafe) public static var free: Free = swiftFree
}

private func swiftAllocate(_ byteCount: Int) -> UnsafeMutableRawPointer? {
    UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 16)
}

private func swiftFree(_ pointer: UnsafeMutableRawPointer?) {
    pointer?.deallocate()
}
