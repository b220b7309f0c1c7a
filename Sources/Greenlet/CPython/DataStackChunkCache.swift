import CPythonShim

#if PY_GE_3_11
/// A few of CPython's freed 16 KiB data-stack chunks, kept mapped for the next one it needs.
///
/// CPython maps a chunk when a thread's frames outgrow the one they are in, and unmaps it as
/// soon as the last frame in it returns. A thread whose first chunk is 16 KiB rarely crosses
/// that line. A greenlet's first chunk is a 1 KiB cell of `DataStackSlab`, so a greenlet that
/// works a few calls deeper than that, and comes back up, crosses it every time: a gevent
/// connection handler does on every message, and paid an `mmap`, a page fault and a `munmap`
/// for each (measured: 20,000 of each for 20,000 echoed messages, and 40% more time per
/// message than upstream greenlet).
///
/// The only place to step in is the object arena allocator, through which CPython maps and
/// unmaps those chunks (`_PyObject_VirtualAlloc`/`_PyObject_VirtualFree`). This wraps the one
/// installed at import: blocks of exactly the chunk size go to a short free list and come back
/// from it; every other request (pymalloc's arenas are far larger) passes straight through.
/// At most `capacity` blocks are kept, for the whole process.
///
/// Thread safety: CPython can free a data stack without the GIL (`PyThreadState_Delete`), so
/// the list has a lock on every build. It is taken only when a chunk is mapped or unmapped.
enum DataStackChunkCache {
    /// CPython's `DATA_STACK_CHUNK_SIZE` (Python/pystate.c, 3.11 to 3.15): the size of every
    /// chunk it maps for frames of ordinary size.
    static let chunkSize = 16 * 1024
    static let capacity = 16

    private struct State {
        /// The allocator that was installed before this one: it maps and unmaps.
        var underlying: PyObjectArenaAllocator
        /// Kept blocks, linked through their first word.
        var head: UnsafeMutableRawPointer?
        var count: Int
        var lock: Int32
    }

    /// Set once, at the first import in the process; never freed (the allocator stays
    /// installed for the life of the process).
    nonisolated(unsafe) private static var state: UnsafeMutablePointer<State>? = nil

    /// Puts the cache in front of the arena allocator, once per process (the allocator is
    /// process-wide: every interpreter and thread shares it). Called with the GIL, at import.
    static func install() {
        guard state == nil else { return }
        var underlying = PyObjectArenaAllocator()
        PyObject_GetArenaAllocator(&underlying)
        let installed = UnsafeMutablePointer<State>.allocate(capacity: 1)
        installed.initialize(to: State(underlying: underlying, head: nil, count: 0, lock: 0))
        state = installed
        var wrapper = PyObjectArenaAllocator(ctx: UnsafeMutableRawPointer(installed),
                                             alloc: allocate, free: release)
        PyObject_SetArenaAllocator(&wrapper)
    }

    private static let allocate: @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer? = { context, size in
        let state = context!.assumingMemoryBound(to: State.self)
        if size == DataStackChunkCache.chunkSize {
            gl_spin_lock_always(&state.pointee.lock)
            if let block = state.pointee.head {
                state.pointee.head = block.load(as: UnsafeMutableRawPointer?.self)
                state.pointee.count -= 1
                gl_spin_unlock_always(&state.pointee.lock)
                return block
            }
            gl_spin_unlock_always(&state.pointee.lock)
        }
        let underlying = state.pointee.underlying
        return underlying.alloc?(underlying.ctx, size)
    }

    private static let release: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int) -> Void = { context, block, size in
        let state = context!.assumingMemoryBound(to: State.self)
        if size == DataStackChunkCache.chunkSize, let block {
            gl_spin_lock_always(&state.pointee.lock)
            if state.pointee.count < DataStackChunkCache.capacity {
                block.storeBytes(of: state.pointee.head, as: UnsafeMutableRawPointer?.self)
                state.pointee.head = block
                state.pointee.count += 1
                gl_spin_unlock_always(&state.pointee.lock)
                return
            }
            gl_spin_unlock_always(&state.pointee.lock)
        }
        let underlying = state.pointee.underlying
        underlying.free?(underlying.ctx, block, size)
    }
}
#else
/// CPython 3.10 has no data stack: its frames are objects of their own.
enum DataStackChunkCache {
    static func install() {}
}
#endif
