import CPythonShim

/// Root chunks for greenlets' Python data stacks (3.11+), cached per thread for reuse.
///
/// CPython gives a thread state with no data stack a fresh 16 KiB chunk from the object arena
/// (an mmap) on the first frame push. A greenlet starts with no data stack; it is lent a small
/// root chunk from `DataStackSlab` instead, and that chunk goes back to this thread's cache
/// when the greenlet finishes, so that spawning touches no lock and no fresh memory. Cached
/// chunks are linked through their own `previous` field.
struct DataStackChunkPool {
    #if PY_GE_3_11
    var head: UnsafeMutablePointer<_PyStackChunk>?
    #endif
    var count: Int

    static let capacity = 64

    init() {
        #if PY_GE_3_11
        head = nil
        #endif
        count = 0
    }
}

#if PY_GE_3_11
extension UnsafeMutablePointer where Pointee == DataStackChunkPool {
    /// A root chunk from the cache or the slab; nil if memory ran out (CPython then allocates
    /// one itself on the first push, and reports the failure there).
    func take() -> UnsafeMutablePointer<_PyStackChunk>? {
        guard let pooled = pointee.head else { return DataStackSlab.take() }
        pointee.head = pooled.pointee.previous
        pointee.count -= 1
        pooled.pointee.previous = nil
        pooled.pointee.top = 0
        return pooled
    }

    /// Takes back a finished greenlet's chunks: the root is cached, any others are freed.
    func reclaim(_ top: UnsafeMutablePointer<_PyStackChunk>?) {
        DataStackChunkPool.free(top, into: self)
    }
}

extension DataStackChunkPool {
    /// Where a root chunk's frames start and end: slot 0 is skipped, so that CPython never
    /// pops (and frees) the root.
    static func rootBounds(of chunk: UnsafeMutablePointer<_PyStackChunk>)
        -> (top: UnsafeMutablePointer<UnsafeMutablePointer<PyObject>?>, limit: UnsafeMutablePointer<UnsafeMutablePointer<PyObject>?>) {
        let slots = UnsafeMutableRawPointer(chunk.pointer(to: \.data)!)
            .assumingMemoryBound(to: UnsafeMutablePointer<PyObject>?.self)
        let limit = (UnsafeMutableRawPointer(chunk) + chunk.pointee.size)
            .assumingMemoryBound(to: UnsafeMutablePointer<PyObject>?.self)
        return (slots + 1, limit)
    }

    /// Frees a chain of chunks, from the innermost outwards. CPython's own chunks (those it
    /// added when the frames outgrew the root, or a root it made when the slab had none) go
    /// back to its arena; a slab root goes to `pool` if given and not full, else to the slab.
    static func free(_ top: UnsafeMutablePointer<_PyStackChunk>?, into pool: UnsafeMutablePointer<DataStackChunkPool>?) {
        var chunk = top
        while let current = chunk {
            chunk = current.pointee.previous
            if DataStackSlab.owns(current) {
                assert(chunk == nil, "a slab chunk is only ever a root")
                release(slabChunk: current, into: pool)
                return
            }
            current.pointee.previous = nil
            freeToArena(current)
        }
    }

    /// The root of a greenlet whose thread state CPython cleared while the greenlet ran: it
    /// freed the chunks it made and could not free this one (see `DataStackSlab.chunkOffset`).
    static func reclaimAfterThreadClear(_ root: UnsafeMutablePointer<_PyStackChunk>?) {
        if let root, DataStackSlab.owns(root) { DataStackSlab.give(root) }
    }

    /// Gives every cached chunk back to the slab (the thread is going away).
    static func drain(_ pool: UnsafeMutablePointer<DataStackChunkPool>) {
        var chunk = pool.pointee.head
        pool.pointee.head = nil
        pool.pointee.count = 0
        while let current = chunk {
            chunk = current.pointee.previous
            DataStackSlab.give(current)
        }
    }

    private static func release(slabChunk: UnsafeMutablePointer<_PyStackChunk>, into pool: UnsafeMutablePointer<DataStackChunkPool>?) {
        guard let pool, pool.pointee.count < capacity else {
            DataStackSlab.give(slabChunk)
            return
        }
        slabChunk.pointee.previous = pool.pointee.head
        pool.pointee.head = slabChunk
        pool.pointee.count += 1
    }

    /// Frees a chunk CPython allocated, with the allocator it used.
    private static func freeToArena(_ chunk: UnsafeMutablePointer<_PyStackChunk>) {
        var arena = PyObjectArenaAllocator()
        PyObject_GetArenaAllocator(&arena)
        arena.free?(arena.ctx, chunk, chunk.pointee.size)
    }
}
#else
extension UnsafeMutablePointer where Pointee == DataStackChunkPool {
    func reclaim(_ top: UnsafeMutableRawPointer?) {}
}

extension DataStackChunkPool {
    static func drain(_ pool: UnsafeMutablePointer<DataStackChunkPool>) {}
}
#endif
