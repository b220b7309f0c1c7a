import CStackSwitch

/// A stack of one coroutine's own: `[base, base + size)`, mapped with a guard page below.
///
/// A coroutine on a dedicated stack switches with the register switch alone: nothing else
/// ever runs on its memory, so nothing is copied out or back. The price is address space
/// and two of the process's memory mappings per stack, and a fixed depth.
public struct DedicatedStack: Equatable {
    /// The lowest usable address; the guard page lies just below.
    public let base: UnsafeMutableRawPointer
    /// Usable bytes, a multiple of the page size.
    public let size: Int

    /// One past the highest usable address.
    public var top: UnsafeMutableRawPointer { base + size }

    /// The smallest stack a coroutine may ask for: CPython 3.14 keeps the lowest 32 KiB of
    /// a stack (64 KiB in debug builds) as its margins.
    public static let minimumSize = 128 * 1024
    /// What a coroutine gets when it asks for no size in particular: address space only,
    /// of which it touches what it uses.
    public static let defaultSize = 2 * 1024 * 1024
    /// The largest: a gigabyte for one greenlet is surely a mistake (a typo in a size).
    public static let maximumSize = 1024 * 1024 * 1024

    /// Bytes above where a coroutine starts, kept zero, so that an unwinder walking past its
    /// first frame (a debugger, a profiler) reads a null return address and stops there
    /// rather than in the memory of whatever started it.
    static let launchPad = 256

    public static var pageSize: Int { greenlet_page_size() }

    /// `requested` rounded up to whole pages, or nil if it is out of range.
    public static func normalizedSize(_ requested: Int) -> Int? {
        guard requested >= minimumSize && requested <= maximumSize else { return nil }
        let page = pageSize
        return (requested + page - 1) / page * page
    }

    /// How many stacks the process may have mapped at once (in use or pooled, all threads):
    /// part of `vm.max_map_count`, leaving the rest to everything else. Past it, a coroutine
    /// that asks for a dedicated stack runs on the thread's stack instead.
    public static var limit: Int {
        get { greenlet_stack_limit() }
        set { greenlet_stack_set_limit(newValue) }
    }

    /// Stacks mapped now, in use or pooled, by every thread.
    public static var mappedCount: Int { greenlet_stacks_mapped() }

    /// A new mapping, or nil when the system refuses one.
    static func map(size: Int) -> DedicatedStack? {
        guard let base = greenlet_stack_map(size) else { return nil }
        return DedicatedStack(base: base, size: size)
    }

    func unmap() {
        greenlet_stack_unmap(base, size)
    }

    /// Where a coroutine starts on this stack: 16-byte aligned, under a zeroed pad.
    func launchPoint() -> UnsafeMutableRawPointer {
        DedicatedStack.launchPoint(below: top)
    }

    /// Where a coroutine starts on fresh stack memory below `address`: 16-byte aligned, under
    /// a zeroed pad.
    static func launchPoint(below address: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        let aligned = UInt(bitPattern: address) & ~UInt(15)
        let point = UnsafeMutableRawPointer(bitPattern: aligned - UInt(launchPad))!
        point.initializeMemory(as: UInt8.self, repeating: 0, count: launchPad)
        return point
    }
}

/// The dedicated stacks a thread keeps for reuse, so that starting a coroutine on one usually
/// costs no system call.
///
/// Mapping a stack and unmapping it again are three system calls (`mmap`, `mprotect`,
/// `munmap`), some 17 µs here: twenty times a whole copying spawn. A server's steady churn
/// reuses a few stacks over and over, but a burst (a thousand greenlets started together and
/// finished together) would pay that twice per greenlet if only a few were kept. So the pool
/// has two tiers:
/// - the first `warmCapacity` stacks are kept with up to `warmResidentLimit` bytes resident
///   below their top;
/// - past those, up to `capacity` in all are kept after a burst, trimmed harder, to
///   `coldResidentLimit`, and only while the process's stacks hold at most half of their
///   mapping budget (`DedicatedStack.limit`), so that a thread's pool never leaves another
///   thread without stacks.
///
/// A stack comes back touched as deep as its coroutine went. Of what lies deeper than its
/// tier's limit below the top, the pages go back to the system before it is kept (the
/// high-water mark). Finding out costs no system call: fresh pages read zero, so a nonzero
/// word just below the mark means the coroutine went deeper. A deep stack whose probed words
/// all happen to be zero keeps its pages until it comes back again; nothing is lost.
public struct StackPool {
    private var stacks: UnsafeMutablePointer<DedicatedStack>?
    public private(set) var count = 0

    /// Stacks kept with `warmResidentLimit` resident.
    public static let warmCapacity = 64
    /// All stacks kept, both tiers: a thread holds at most `warmCapacity * warmResidentLimit
    /// + (capacity - warmCapacity) * coldResidentLimit` bytes of them resident (19 MiB),
    /// typically a page or two each (a shallow greenlet's).
    public static let capacity = 1024
    /// The high-water mark of the first tier: bytes below a pooled stack's top that may stay
    /// resident.
    public static let warmResidentLimit = 64 * 1024
    /// The high-water mark of the second tier.
    public static let coldResidentLimit = 16 * 1024

    public init() {}

    /// A kept stack of exactly `size` bytes, if there is one.
    mutating func take(size: Int) -> DedicatedStack? {
        guard let stacks else { return nil }
        var index = count
        while index > 0 {
            index -= 1
            if stacks[index].size == size {
                let stack = stacks[index]
                count -= 1
                stacks[index] = stacks[count]
                return stack
            }
        }
        return nil
    }

    /// Keeps `stack` for reuse, trimmed to its tier's high-water mark, or unmaps it.
    mutating func give(_ stack: DedicatedStack) {
        greenlet_asan_forget_frames(stack.base, stack.top)
        guard let resident = residentLimitOfNextKept() else {
            stack.unmap()
            return
        }
        if stacks == nil {
            stacks = .allocate(capacity: StackPool.capacity)
        }
        StackPool.trim(stack, keeping: resident)
        stacks.unsafelyUnwrapped[count] = stack
        count += 1
    }

    /// How many bytes the next stack kept may keep resident, or nil if it is not kept.
    private func residentLimitOfNextKept() -> Int? {
        if count < StackPool.warmCapacity { return StackPool.warmResidentLimit }
        guard count < StackPool.capacity,
              DedicatedStack.mappedCount <= DedicatedStack.limit / 2 else { return nil }
        return StackPool.coldResidentLimit
    }

    /// Unmaps every kept stack, for a thread that ends.
    public mutating func drain() {
        if let stacks {
            for index in 0..<count { stacks[index].unmap() }
            stacks.deallocate()
        }
        stacks = nil
        count = 0
    }

    /// Gives back the pages of `stack` deeper than `resident` below its top, if its coroutine
    /// went there.
    static func trim(_ stack: DedicatedStack, keeping resident: Int) {
        let page = DedicatedStack.pageSize
        let mark = stack.size - resident
        guard mark >= page else { return }  // small stacks are kept whole
        // Sixteen words across the page just below the mark.
        let probe = (stack.base + (mark - page)).assumingMemoryBound(to: UInt.self)
        let stride = page / MemoryLayout<UInt>.stride / 16
        var touched = false
        for index in 0..<16 where probe[index * stride] != 0 {
            touched = true
            break
        }
        if touched { greenlet_stack_discard(stack.base, mark) }
    }
}
