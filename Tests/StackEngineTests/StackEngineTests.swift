import StackEngine
import XCTest


/// A test coroutine: its slice, the values passed in and out, and what it checks on the way.
/// Plain memory behind a pointer, so nothing is retained or released across a switch.
struct Coro {
    var slice = StackSlice()
    var id = 0
    var depth = 0
    var rounds = 0
    var inbox = 0
    var outbox = 0
    var resumeTo: UnsafeMutablePointer<StackSlice>?
    /// When set, replies go straight into this sibling instead of back to `resumeTo`.
    var next: UnsafeMutablePointer<Coro>?
    var failures = 0
    var done = false
    /// The first switch away from the bottom is made with allocation refused (see `serve`).
    var refuseMemoryOnce = false
    /// That refused switch returned `.outOfMemory` and left this coroutine running.
    var survivedRefusal = false
}

extension UnsafeMutablePointer where Pointee == Coro {
    /// The slice's own address: other slices and the engine keep pointers to it.
    var slice: UnsafeMutablePointer<StackSlice> {
        UnsafeMutableRawPointer(self).advanced(by: MemoryLayout<Coro>.offset(of: \Coro.slice)!)
            .assumingMemoryBound(to: StackSlice.self)
    }
}

/// Per-test world: one thread's engine state and the main slice.
final class World {
    let main: UnsafeMutablePointer<StackSlice>
    let thread: UnsafeMutablePointer<SwitchContext>

    init() {
        main = .allocate(capacity: 1)
        main.initialize(to: .main())
        thread = .allocate(capacity: 1)
        thread.initialize(to: SwitchContext(main: main))
    }

    deinit {
        thread.deallocate()
        main.deallocate()
    }

    func makeCoros(_ count: Int, depth: Int, rounds: Int) -> UnsafeMutablePointer<Coro> {
        let coros = UnsafeMutablePointer<Coro>.allocate(capacity: count)
        for i in 0..<count {
            coros.advanced(by: i).initialize(to: Coro(id: i, depth: depth, rounds: rounds))
        }
        return coros
    }
}

/// The engine state of the test that is running; tests run one at a time on one thread.
nonisolated(unsafe) var currentWorld: World!

/// Distinct per (coroutine, depth), so a frame restored at the wrong place or from the wrong
/// copy shows up.
@inline(__always) func token(_ id: Int, _ depth: Int) -> Int { (id &* 1_000_003) ^ (depth &* 7919) ^ 0x5a5a }

@inline(__always) func reply(_ id: Int, _ value: Int) -> Int { value &* 3 &+ id }

/// Goes `depth` real C frames down, each keeping a value that must survive every switch, then
/// serves `rounds` requests at the bottom.
@inline(never)
func descend(_ coro: UnsafeMutablePointer<Coro>, _ level: Int) -> Int {
    let mine = token(coro.pointee.id, level)
    var sum = mine
    if level < coro.pointee.depth {
        sum &+= descend(coro, level + 1)
        if sum &- mine != token(coro.pointee.id, level + 1) { coro.pointee.failures += 1 }
    } else {
        serve(coro)
    }
    if sum &- (level < coro.pointee.depth ? token(coro.pointee.id, level + 1) : 0) != mine {
        coro.pointee.failures += 1
    }
    return mine
}

@inline(never)
func serve(_ coro: UnsafeMutablePointer<Coro>) {
    let world = currentWorld!
    if coro.pointee.refuseMemoryOnce {
        coro.pointee.refuseMemoryOnce = false
        refuseAllocations = true
        let outcome = StackEngine.resume(coro.pointee.resumeTo ?? world.main, on: world.thread)
        refuseAllocations = false
        coro.pointee.survivedRefusal = outcome == .outOfMemory && world.thread.pointee.current == coro.slice
    }
    for _ in 0..<coro.pointee.rounds {
        coro.pointee.outbox = reply(coro.pointee.id, coro.pointee.inbox)
        if startChildOnNextResume == coro {
            startChildOnNextResume = nil
            nestedStarter?(coro)
        }
        let outcome: SwitchOutcome
        if let next = coro.pointee.next {
            next.pointee.inbox = coro.pointee.outbox
            outcome = StackEngine.resume(next.slice, on: world.thread)
        } else {
            outcome = StackEngine.resume(coro.pointee.resumeTo ?? world.main, on: world.thread)
        }
        if outcome != .resumed { coro.pointee.failures += 1 }
    }
}

let coroEntry: CoroutineEntry = { context in
    let coro = context!.assumingMemoryBound(to: Coro.self)
    let world = currentWorld!
    // The first request arrives with the start.
    _ = descend(coro, 0)
    coro.pointee.done = true
    StackEngine.finishCurrent(on: world.thread)
    _ = StackEngine.resume(coro.pointee.resumeTo ?? world.main, on: world.thread)
}

/// While set, heap copies cannot be had: the engine's out-of-memory paths run.
nonisolated(unsafe) var refuseAllocations = false

let refusingAllocate: StackMemory.Allocate = { byteCount in
    refuseAllocations ? nil : UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 16)
}

/// A deterministic generator, so a failure can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

final class StackEngineTests: XCTestCase {
    private var allocate: StackMemory.Allocate!

    override func setUp() {
        currentWorld = World()
        allocate = StackMemory.allocate
        StackMemory.allocate = refusingAllocate
    }

    override func tearDown() {
        StackMemory.allocate = allocate
        refuseAllocations = false
        currentWorld = nil
    }

    /// 10,000 coroutines, each over 100 C frames deep, served in a shuffled order every round.
    func testTenThousandDeepCoroutinesInterleaved() {
        let world = currentWorld!
        let count = 10_000, rounds = 4
        let coros = world.makeCoros(count, depth: 120, rounds: rounds)
        var rng = SplitMix(state: 42)
        var order = Array(0..<count)
        for round in 0..<rounds {
            order.shuffle(using: &rng)
            serveRound(round, coros, in: order)
            if round == 0 {
                let saved = (0..<count).reduce(0) { $0 + coros[$1].slice.savedBytes }
                XCTAssertGreaterThan(saved, count * 100 * 16, "every coroutine's deep stack is on the heap")
            }
        }
        // One more resume each lets them unwind their frames and finish.
        for i in order {
            XCTAssertEqual(StackEngine.resume((coros + i).slice, on: world.thread), .resumed)
            XCTAssertTrue(coros[i].done)
            XCTAssertTrue(coros[i].slice.isFinished)
            XCTAssertEqual(coros[i].failures, 0, "coroutine \(i) saw a corrupted frame")
            XCTAssertEqual(coros[i].slice.heapBytes, 0)
            // The counters survive the finish. Every byte saved was restored before the
            // coroutine ran again, so saves and restores each account for half of the copies,
            // and each of its `rounds` suspensions saved the deep stack at least once.
            let slice = coros[i].slice
            XCTAssertGreaterThan(slice.savedMax, 100 * 16)
            XCTAssertEqual(slice.bytesCopied % 2, 0, "saves and restores of coroutine \(i) differ")
            XCTAssertGreaterThanOrEqual(slice.bytesCopied, 2 * rounds * slice.savedMax)
        }
        let held = (0..<count).reduce(0) { $0 + coros[$1].slice.heapBytes }
        XCTAssertEqual(held, 0, "heap copies were released")
        XCTAssertEqual(world.main.pointee.savedBytes, 0, "main's bytes are all back on the stack")
        XCTAssertLessThan(world.main.pointee.heapBytes, 4096, "main keeps one small buffer for reuse")
        coros.deallocate()
    }

    /// Coroutines hand a value to each other directly, never through main, so saves and
    /// restores happen between siblings at different depths.
    func testRelayBetweenSiblingsAtDifferentDepths() {
        let world = currentWorld!
        let count = 64, rounds = 50
        let coros = world.makeCoros(count, depth: 0, rounds: rounds)
        for i in 0..<count { coros[i].depth = 100 + (i * 37) % 90 }
        runRelay(coros, count: count, rounds: rounds)
        coros.deallocate()
    }

    /// Coroutines started from inside other coroutines' deep stacks: bands nest, and the chain
    /// of slices that share the stack must be walked and relinked correctly.
    func testNestedStartsAndRandomSwitches() {
        let world = currentWorld!
        let count = 300
        let coros = world.makeCoros(count, depth: 0, rounds: 30)
        for i in 0..<count { coros[i].depth = 20 + (i * 13) % 150 }
        let started = runNestedStarts(coros, count: count, seed: 7)
        XCTAssertEqual(started, count)
        for i in 0..<count {
            XCTAssertTrue(coros[i].done)
            XCTAssertEqual(coros[i].failures, 0, "coroutine \(i)")
            XCTAssertEqual(coros[i].slice.heapBytes, 0)
        }
        nestedStarter = nil
        coros.deallocate()
    }

    /// A start whose save cannot get memory fails cleanly: the slice is as if never started,
    /// the caller runs on, and the same start then succeeds.
    func testStartWithoutMemoryIsUndone() {
        let world = currentWorld!
        let coro = world.makeCoros(1, depth: 30, rounds: 1)
        coro.pointee.inbox = 7
        refuseAllocations = true
        XCTAssertEqual(StackEngine.start(coro.slice, on: world.thread, entry: coroEntry, context: coro), .outOfMemory)
        refuseAllocations = false
        XCTAssertFalse(coro.slice.pointee.isStarted)
        XCTAssertEqual(world.thread.pointee.current, world.main)
        XCTAssertEqual(coro.pointee.outbox, 0, "the entry never ran")

        XCTAssertEqual(StackEngine.start(coro.slice, on: world.thread, entry: coroEntry, context: coro), .resumed)
        XCTAssertEqual(coro.pointee.outbox, reply(0, 7))
        XCTAssertEqual(StackEngine.resume(coro.slice, on: world.thread), .resumed)
        XCTAssertTrue(coro.pointee.done)
        XCTAssertEqual(coro.pointee.failures, 0)
        XCTAssertEqual(coro.slice.pointee.heapBytes, 0)
        coro.deallocate()
    }

    /// A deep coroutine whose switch away cannot save its bytes keeps running with every frame
    /// intact, and its next switch succeeds.
    func testSwitchWithoutMemoryKeepsTheCoroutineRunning() {
        let world = currentWorld!
        let coro = world.makeCoros(1, depth: 80, rounds: 2)
        coro.pointee.refuseMemoryOnce = true
        coro.pointee.inbox = 11
        XCTAssertEqual(StackEngine.start(coro.slice, on: world.thread, entry: coroEntry, context: coro), .resumed)
        XCTAssertTrue(coro.pointee.survivedRefusal)
        XCTAssertEqual(coro.pointee.outbox, reply(0, 11))
        XCTAssertEqual(world.thread.pointee.current, world.main)
        XCTAssertGreaterThan(coro.slice.pointee.savedBytes, 80 * 16, "the retried switch saved the deep stack")
        for _ in 0..<2 { XCTAssertEqual(StackEngine.resume(coro.slice, on: world.thread), .resumed) }
        XCTAssertTrue(coro.pointee.done)
        XCTAssertEqual(coro.pointee.failures, 0, "a frame was corrupted by the failed switch")
        XCTAssertEqual(coro.slice.pointee.heapBytes, 0)
        coro.deallocate()
    }

    /// A new slice is neither started, active nor finished; the main slice is active.
    func testSliceStates() {
        var slice = StackSlice()
        XCTAssertFalse(slice.isStarted)
        XCTAssertFalse(slice.isActive)
        XCTAssertFalse(slice.isFinished)
        let main = StackSlice.main()
        XCTAssertTrue(main.isActive && main.isStarted && !main.isFinished)
        slice.releaseCopy()
        XCTAssertEqual(slice.heapBytes, 0)
    }
}

/// Starts `count` coroutines, then, round after round, has coroutine i reply straight into
/// coroutine i+1 and the last to main, checking the value that comes out; then lets each
/// finish.
func runRelay(_ coros: UnsafeMutablePointer<Coro>, count: Int, rounds: Int) {
    let world = currentWorld!
    // Start them all; each parks after its first reply.
    for i in 0..<count {
        coros[i].inbox = i
        XCTAssertEqual(StackEngine.start((coros + i).slice, on: world.thread, entry: coroEntry, context: coros + i), .resumed)
    }
    for i in 0..<count - 1 { coros[i].next = coros + i + 1 }
    for round in 1..<rounds {
        coros[0].inbox = round
        var expected = round
        for i in 0..<count { expected = reply(i, expected) }
        XCTAssertEqual(StackEngine.resume((coros + 0).slice, on: world.thread), .resumed)
        XCTAssertEqual(world.thread.pointee.current, world.main)
        XCTAssertEqual(world.thread.pointee.origin, (coros + count - 1).slice)
        XCTAssertEqual(coros[count - 1].outbox, expected)
    }
    for i in 0..<count { coros[i].next = nil }
    for i in 0..<count { coros[i].resumeTo = nil }
    for i in 0..<count {
        XCTAssertEqual(StackEngine.resume((coros + i).slice, on: world.thread), .resumed)
        XCTAssertTrue(coros[i].done)
        XCTAssertEqual(coros[i].failures, 0, "coroutine \(i)")
    }
}

/// One round of requests, to the coroutines in `order`: round 0 starts them, later rounds
/// resume them. Each must answer and come back to main.
func serveRound(_ round: Int, _ coros: UnsafeMutablePointer<Coro>, in order: [Int]) {
    let world = currentWorld!
    for i in order {
        let coro = coros + i
        coro.pointee.inbox = round &* 100_000 &+ i
        let outcome = round == 0
            ? StackEngine.start(coro.slice, on: world.thread, entry: coroEntry, context: coro)
            : StackEngine.resume(coro.slice, on: world.thread)
        XCTAssertEqual(outcome, .resumed)
        XCTAssertEqual(coro.pointee.outbox, reply(i, round &* 100_000 &+ i))
        XCTAssertEqual(world.thread.pointee.current, world.main)
    }
}

/// Starts coroutine 0 from main, then resumes live coroutines at random; a third of the
/// resumes also start the next coroutine from inside the resumed one's deepest frame. Runs
/// until every started coroutine is done; returns how many were started.
func runNestedStarts(_ coros: UnsafeMutablePointer<Coro>, count: Int, seed: UInt64) -> Int {
    let world = currentWorld!
    var rng = SplitMix(state: seed)
    XCTAssertEqual(StackEngine.start(coros.slice, on: world.thread, entry: coroEntry, context: coros), .resumed)
    var started = 1
    nestedStarter = { parent in
        // Runs inside a coroutine at the bottom of its stack: start the next one from here.
        guard started < count else { return }
        let child = coros + started
        started += 1
        child.pointee.resumeTo = parent.slice
        _ = StackEngine.start(child.slice, on: world.thread, entry: coroEntry, context: child)
        child.pointee.resumeTo = nil
    }
    var live = Set([0])
    var steps = 0
    while !live.isEmpty {
        steps += 1
        let pick = live.randomElement(using: &rng)!
        coros[pick].inbox = steps
        startChildOnNextResume = (rng.below(3) == 0) ? coros + pick : nil
        XCTAssertEqual(StackEngine.resume((coros + pick).slice, on: world.thread), .resumed)
        if !coros[pick].done { XCTAssertEqual(coros[pick].outbox, reply(pick, steps)) }
        for i in 0..<started where !coros[i].done { live.insert(i) }
        live = live.filter { !coros[$0].done }
    }
    nestedStarter = nil
    return started
}

/// Hooks for the nested-start test, read at the bottom of `serve`.
nonisolated(unsafe) var nestedStarter: ((UnsafeMutablePointer<Coro>) -> Void)?
nonisolated(unsafe) var startChildOnNextResume: UnsafeMutablePointer<Coro>?
