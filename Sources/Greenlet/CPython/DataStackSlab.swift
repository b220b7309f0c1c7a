import CPythonShim

#if PY_GE_3_11
/// Small root chunks for greenlets' Python data stacks, carved from slabs that all threads
/// share.
///
/// CPython's data-stack chunks are 16 KiB mmaps. A suspended shallow greenlet touches one
/// page of its chunk for a frame or two, so most of what it costs is that page. A root chunk
/// of 1 KiB from a slab puts four such greenlets in a page. One that goes deeper is given
/// CPython's own chunks above its root by CPython, which frees them as its frames return.
///
/// A slab is `slabSize` bytes aligned to `slabSize`, so a chunk finds its slab by masking
/// its address. Cell 0 holds the slab's header; every other cell holds one chunk,
/// `chunkOffset` bytes in. Cells are carved in order on first use, so a fresh slab costs
/// memory only as it fills. One empty slab is kept for reuse; the others go back to the
/// kernel as they empty.
///
/// Thread safety: with the GIL every caller holds it; without, a spin lock guards the lists
/// (held for a few pointer writes, or an mmap).
enum DataStackSlab {
    static let slabSize = 64 * 1024
    static let cellSize = 1024
    static let cellsPerSlab = slabSize / cellSize
    /// A chunk starts this far into its cell, so that no chunk is ever page-aligned. CPython
    /// frees a thread's chunks itself when it clears a thread state that a greenlet was
    /// running in (a thread that ended inside a greenlet): for a root chunk from here, that
    /// is a `munmap` at an unaligned address, which the kernel refuses, and the cell is
    /// handed back by the thread's cleanup instead (see `ThreadExit.destroy`).
    static let chunkOffset = 16
    /// The size every chunk from here has, and nothing else has: CPython's start at 16 KiB.
    static let chunkSize = cellSize - chunkOffset

    struct Header {
        var next: UnsafeMutablePointer<Header>?
        var previous: UnsafeMutablePointer<Header>?
        /// Cells given back, linked through their chunks' `previous`.
        var free: UnsafeMutablePointer<_PyStackChunk>?
        /// Cells handed out and not yet given back.
        var used: Int
        /// Cells ever handed out; those beyond have never been touched.
        var carved: Int
        var isListed: Bool
    }

    /// Slabs with a cell to give, most recently given to first.
    nonisolated(unsafe) private static var available: UnsafeMutablePointer<Header>? = nil
    /// An empty slab kept back from the kernel, so that a thread that spawns and finishes
    /// greenlets in bursts does not map and unmap a slab each time.
    nonisolated(unsafe) private static var spare: UnsafeMutablePointer<Header>? = nil
    /// The spin lock's word, at a fixed address that every thread sees.
    private static let lock: UnsafeMutablePointer<Int32> = {
        let word = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        word.initialize(to: 0)
        return word
    }()

    /// A root chunk, laid out as CPython lays out a thread's first chunk; nil if the kernel
    /// refused memory.
    static func take() -> UnsafeMutablePointer<_PyStackChunk>? {
        gl_spin_lock(lock)
        defer { gl_spin_unlock(lock) }
        guard let slab = available ?? refill() else { return nil }
        let chunk: UnsafeMutablePointer<_PyStackChunk>
        if let reused = slab.pointee.free {
            slab.pointee.free = reused.pointee.previous
            chunk = reused
        } else {
            assert(slab.pointee.carved < cellsPerSlab, "a listed slab has a cell to give")
            chunk = (UnsafeMutableRawPointer(slab) + slab.pointee.carved * cellSize + chunkOffset)
                .assumingMemoryBound(to: _PyStackChunk.self)
            slab.pointee.carved += 1
        }
        slab.pointee.used += 1
        if slab.pointee.free == nil && slab.pointee.carved == cellsPerSlab { unlist(slab) }
        chunk.pointee.previous = nil
        chunk.pointee.size = chunkSize
        chunk.pointee.top = 0
        return chunk
    }

    /// Takes back a chunk from `take`.
    static func give(_ chunk: UnsafeMutablePointer<_PyStackChunk>) {
        let slab = header(of: chunk)
        gl_spin_lock(lock)
        defer { gl_spin_unlock(lock) }
        assert(slab.pointee.used > 0, "a chunk goes back to the slab it came from, once")
        chunk.pointee.previous = slab.pointee.free
        slab.pointee.free = chunk
        slab.pointee.used -= 1
        if slab.pointee.used == 0 {
            if slab.pointee.isListed { unlist(slab) }
            if spare == nil {
                spare = slab
            } else {
                gl_unmap(UnsafeMutableRawPointer(slab), slabSize)
            }
        } else if !slab.pointee.isListed {
            list(slab)
        }
    }

    /// Whether `chunk` came from here: only these chunks have this size.
    @inline(__always)
    static func owns(_ chunk: UnsafeMutablePointer<_PyStackChunk>) -> Bool {
        chunk.pointee.size == chunkSize
    }

    private static func header(of chunk: UnsafeMutablePointer<_PyStackChunk>) -> UnsafeMutablePointer<Header> {
        let address = UInt(bitPattern: chunk)
        let base = address & ~UInt(slabSize - 1)
        assert((address - base) % UInt(cellSize) == UInt(chunkOffset) && address - base >= UInt(cellSize),
               "a slab chunk sits at its offset in a cell past the header")
        return UnsafeMutablePointer(bitPattern: base)!
    }

    /// The spare slab, emptied, or a new one; listed.
    private static func refill() -> UnsafeMutablePointer<Header>? {
        let slab: UnsafeMutablePointer<Header>
        if let kept = spare {
            spare = nil
            slab = kept
        } else {
            guard let raw = gl_map_aligned(slabSize) else { return nil }
            slab = raw.bindMemory(to: Header.self, capacity: 1)
            slab.initialize(to: Header(next: nil, previous: nil, free: nil, used: 0, carved: 1, isListed: false))
        }
        list(slab)
        return slab
    }

    private static func list(_ slab: UnsafeMutablePointer<Header>) {
        slab.pointee.previous = nil
        slab.pointee.next = available
        available?.pointee.previous = slab
        available = slab
        slab.pointee.isListed = true
    }

    private static func unlist(_ slab: UnsafeMutablePointer<Header>) {
        if let previous = slab.pointee.previous {
            previous.pointee.next = slab.pointee.next
        } else {
            available = slab.pointee.next
        }
        slab.pointee.next?.pointee.previous = slab.pointee.previous
        slab.pointee.next = nil
        slab.pointee.previous = nil
        slab.pointee.isListed = false
    }
}
#endif
