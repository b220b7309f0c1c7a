import CPythonShim

/// Root chunks for greenlets' Python data stacks (3.11+), kept per thread for reuse.
///
/// CPython gives a thread state with no data stack a fresh 16 KiB chunk from the object arena
/// (an mmap) on the first frame push. A greenlet starts with no data stack, so each start
/// would pay for an mmap and each finish for a munmap; lending a pooled chunk instead makes
/// spawning cheap. Pooled chunks are linked through their own `previous` field.
struct DataStackChunkPool {
    #if PY_GE_3_11
    var head: UnsafeMutablePointer<_PyStackChunk>?
    #endif
    var count: Int

    /// CPython's own size for a data stack chunk; larger (rarer) chunks are not pooled.
    static let chunkSize = 16 * 1024
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
    /// A root chunk laid out as CPython lays out a thread's first one, from the pool or the
    /// arena; nil if memory ran out (CPython then allocates one itself on the first push, and
    /// reports the failure there).
    func take() -> UnsafeMutablePointer<_PyStackChunk>? {
        var chunk = pointee.head
        if let pooled = chunk {
            pointee.head = pooled.pointee.previous
            pointee.count -= 1
        } else {
            chunk = DataStackChunkPool.allocate()
        }
        guard let chunk else { return nil }
        chunk.pointee.previous = nil
        chunk.pointee.size = Int(DataStackChunkPool.chunkSize)
        chunk.pointee.top = 0
        return chunk
    }

    /// Takes back a finished greenlet's chunks: the root is pooled, any others are freed.
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

    /// A chunk from the same allocator CPython uses for data stacks, so either side can free it.
    static func allocate() -> UnsafeMutablePointer<_PyStackChunk>? {
        var arena = PyObjectArenaAllocator()
        PyObject_GetArenaAllocator(&arena)
        guard let alloc = arena.alloc else { return nil }
        return alloc(arena.ctx, chunkSize)?.assumingMemoryBound(to: _PyStackChunk.self)
    }

    /// Frees a chain of chunks, from the innermost outwards; the root goes to `pool` if given.
    static func free(_ top: UnsafeMutablePointer<_PyStackChunk>?, into pool: UnsafeMutablePointer<DataStackChunkPool>?) {
        var arena = PyObjectArenaAllocator()
        PyObject_GetArenaAllocator(&arena)
        var chunk = top
        while let current = chunk {
            chunk = current.pointee.previous
            if chunk == nil, let pool, current.pointee.size == chunkSize, pool.pointee.count < capacity {
                current.pointee.previous = pool.pointee.head
                pool.pointee.head = current
                pool.pointee.count += 1
                return
            }
            current.pointee.previous = nil
            arena.free?(arena.ctx, current, current.pointee.size)
        }
    }

    /// Frees every pooled chunk (the thread is going away).
    static func drain(_ pool: UnsafeMutablePointer<DataStackChunkPool>) {
        let chunks = pool.pointee.head
        pool.pointee.head = nil
        pool.pointee.count = 0
        var arena = PyObjectArenaAllocator()
        PyObject_GetArenaAllocator(&arena)
        var chunk = chunks
        while let current = chunk {
            chunk = current.pointee.previous
            arena.free?(arena.ctx, current, current.pointee.size)
        }
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
