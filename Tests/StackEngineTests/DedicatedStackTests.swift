import StackEngine
import XCTest

/// Coroutines on dedicated stacks, alone and mixed with coroutines that share the thread's
/// stack, built from the same test coroutines as `StackEngineTests`.
final class DedicatedStackTests: XCTestCase {
    private var savedLimit = 0

    override func setUp() {
        currentWorld = World()
        savedLimit = DedicatedStack.limit
    }

    override func tearDown() {
        currentWorld.thread.pointee.drainPool()
        DedicatedStack.limit = savedLimit
        nestedStarter = nil
        startChildOnNextResume = nil
        currentWorld = nil
    }

    private func dedicate(_ coro: UnsafeMutablePointer<Coro>, size: Int = DedicatedStack.defaultSize) {
        coro.slice.pointee.requestDedicatedStack(size: DedicatedStack.normalizedSize(size)!)
    }

    /// Deep coroutines, every other one on a dedicated stack, served in a shuffled order:
    /// the dedicated ones never copy a byte, and every frame of both kinds survives.
    func testDedicatedAndCopyingCoroutinesInterleaved() {
        let world = currentWorld!
        let count = 400, rounds = 6
        let coros = world.makeCoros(count, depth: 150, rounds: rounds)
        for i in stride(from: 0, to: count, by: 2) { dedicate(coros + i) }
        var rng = SplitMix(state: 1234)
        var order = Array(0..<count)
        for round in 0..<rounds {
            order.shuffle(using: &rng)
            serveRound(round, coros, in: order)
        }
        for i in order {
            XCTAssertEqual(StackEngine.resume((coros + i).slice, on: world.thread), .resumed)
            XCTAssertTrue(coros[i].done)
            XCTAssertEqual(coros[i].failures, 0, "coroutine \(i) saw a corrupted frame")
            let slice = coros[i].slice
            if i % 2 == 0 {
                XCTAssertTrue(slice.isDedicated)
                XCTAssertEqual(slice.bytesCopied, 0, "a dedicated coroutine copies nothing")
                XCTAssertNil(slice.dedicatedStack, "its stack went back when it finished")
            } else {
                XCTAssertGreaterThan(slice.bytesCopied, 0)
            }
        }
        XCTAssertEqual(world.thread.pointee.pool.count, min(count / 2, StackPool.capacity))
        coros.deallocate()
    }

    /// Siblings of both kinds hand values straight to each other, never through main.
    func testRelayBetweenDedicatedAndCopyingSiblings() {
        let world = currentWorld!
        let count = 48, rounds = 40
        let coros = world.makeCoros(count, depth: 0, rounds: rounds)
        for i in 0..<count {
            coros[i].depth = 60 + (i * 37) % 90
            if i % 3 != 0 { dedicate(coros + i, size: DedicatedStack.minimumSize) }
        }
        runRelay(coros, count: count, rounds: rounds)
        coros.deallocate()
    }

    /// Coroutines of both kinds started from inside each other, at random: a copying one
    /// started from a dedicated one runs on the thread's stack, below every slice there.
    func testNestedStartsAcrossBothKinds() {
        let world = currentWorld!
        let count = 300
        let coros = world.makeCoros(count, depth: 0, rounds: 25)
        var rng = SplitMix(state: 98)
        for i in 0..<count {
            coros[i].depth = 20 + (i * 13) % 150
            if rng.below(2) == 0 { dedicate(coros + i, size: DedicatedStack.minimumSize * 2) }
        }
        let started = runNestedStarts(coros, count: count, seed: 99)
        XCTAssertEqual(started, count)
        for i in 0..<count {
            XCTAssertTrue(coros[i].done)
            XCTAssertEqual(coros[i].failures, 0, "coroutine \(i)")
            if coros[i].slice.isDedicated { XCTAssertEqual(coros[i].slice.bytesCopied, 0) }
        }
        coros.deallocate()
    }

    /// One coroutine after another on a dedicated stack: the same stack serves them all, and
    /// no mapping is made after the first.
    func testStacksAreReused() {
        let world = currentWorld!
        let coros = world.makeCoros(1000, depth: 10, rounds: 1)
        var bases = Set<UInt>()
        for i in 0..<1000 {
            let coro = coros + i
            dedicate(coro)
            XCTAssertEqual(StackEngine.start(coro.slice, on: world.thread, entry: coroEntry, context: coro), .resumed)
            bases.insert(UInt(bitPattern: coro.slice.pointee.dedicatedStack!.base))
            XCTAssertEqual(StackEngine.resume(coro.slice, on: world.thread), .resumed)
            XCTAssertTrue(coro.pointee.done)
            XCTAssertEqual(coro.pointee.failures, 0)
        }
        XCTAssertEqual(bases.count, 1, "every coroutine ran on the first stack")
        XCTAssertEqual(world.thread.pointee.pool.count, 1)
        coros.deallocate()
    }

    /// A coroutine that went deeper than the high-water mark leaves a stack whose pages below
    /// the mark read zero again (given back) once it is kept; one that stayed shallow leaves
    /// its pages alone.
    func testPagesBelowTheHighWaterMarkAreGivenBack() {
        let world = currentWorld!
        let coros = world.makeCoros(2, depth: 0, rounds: 1)
        coros[0].depth = 3000  // some hundreds of KiB deep
        coros[1].depth = 3000
        dedicate(coros + 0)
        XCTAssertEqual(StackEngine.start((coros + 0).slice, on: world.thread, entry: coroEntry, context: coros), .resumed)
        let stack = coros[0].slice.dedicatedStack!
        let deep = (stack.top - 2 * StackPool.warmResidentLimit).assumingMemoryBound(to: UInt.self)
        let touched = (0..<512).contains { deep[$0] != 0 }
        XCTAssertTrue(touched, "the coroutine went deep")
        XCTAssertEqual(StackEngine.resume((coros + 0).slice, on: world.thread), .resumed)
        XCTAssertTrue(coros[0].done)
        XCTAssertEqual(world.thread.pointee.pool.count, 1)
        XCTAssertFalse((0..<512).contains { deep[$0] != 0 }, "the deep pages were given back")
        coros.deallocate()
    }

    /// A burst of deep coroutines that finish together: all their stacks are kept, the first
    /// `warmCapacity` with their top 64 KiB resident, the rest trimmed to their top 16 KiB.
    func testABurstIsKeptInTwoTiers() {
        let world = currentWorld!
        let count = StackPool.warmCapacity + 36
        let stacks = startDeepBurst(count)
        let coros = stacks.coros
        // 32 KiB under the top: resident in the first tier, given back in the second.
        let probes = stacks.tops.map { ($0 - 32 * 1024).assumingMemoryBound(to: UInt.self) }
        XCTAssertTrue(probes.allSatisfy { probe in (0..<512).contains { probe[$0] != 0 } })
        finishInOrder(coros, count: count)
        XCTAssertEqual(world.thread.pointee.pool.count, count)
        for i in 0..<count {
            let resident = (0..<512).contains { probes[i][$0] != 0 }
            XCTAssertEqual(resident, i < StackPool.warmCapacity, "stack \(i)")
        }
        coros.deallocate()
    }

    /// Past half of the process's stack budget, a thread keeps only its first tier.
    func testTheSecondTierYieldsToTheBudget() {
        let world = currentWorld!
        let count = StackPool.warmCapacity + 36
        let coros = startDeepBurst(count).coros
        DedicatedStack.limit = DedicatedStack.mappedCount  // more than half of it in use
        finishInOrder(coros, count: count)
        XCTAssertEqual(world.thread.pointee.pool.count, StackPool.warmCapacity)
        XCTAssertEqual(DedicatedStack.mappedCount, StackPool.warmCapacity)
        coros.deallocate()
    }

    /// Starts `count` coroutines on dedicated stacks, each suspended hundreds of KiB deep.
    private func startDeepBurst(_ count: Int) -> (coros: UnsafeMutablePointer<Coro>, tops: [UnsafeMutableRawPointer]) {
        let world = currentWorld!
        let coros = world.makeCoros(count, depth: 3000, rounds: 1)
        var tops: [UnsafeMutableRawPointer] = []
        for i in 0..<count {
            dedicate(coros + i)
            XCTAssertEqual(StackEngine.start((coros + i).slice, on: world.thread, entry: coroEntry, context: coros + i), .resumed)
            tops.append(coros[i].slice.dedicatedStack!.top)
        }
        return (coros, tops)
    }

    /// Resumes each coroutine in turn until it finishes, so that their stacks reach the pool
    /// in that order.
    private func finishInOrder(_ coros: UnsafeMutablePointer<Coro>, count: Int) {
        let world = currentWorld!
        for i in 0..<count {
            XCTAssertEqual(StackEngine.resume((coros + i).slice, on: world.thread), .resumed)
            XCTAssertTrue(coros[i].done)
            XCTAssertEqual(coros[i].failures, 0, "coroutine \(i)")
        }
    }

    /// When the system has no mapping to give, the coroutine runs on the thread's stack, and
    /// says so; from a dedicated coroutine too.
    func testRefusedStackFallsBackToCopying() {
        let world = currentWorld!
        let coros = world.makeCoros(3, depth: 40, rounds: 2)
        dedicate(coros + 0)
        dedicate(coros + 1)
        dedicate(coros + 2)
        XCTAssertEqual(StackEngine.start((coros + 0).slice, on: world.thread, entry: coroEntry, context: coros), .resumed)
        // No new mapping may be made: as if the system had none to give.
        DedicatedStack.limit = DedicatedStack.mappedCount
        XCTAssertEqual(StackEngine.start((coros + 1).slice, on: world.thread, entry: coroEntry, context: coros + 1), .resumed)
        XCTAssertFalse(coros[1].slice.isDedicated)
        XCTAssertTrue(coros[1].slice.dedicatedStackRefused)
        // From inside the dedicated one.
        nestedStarter = { parent in
            let child = coros + 2
            child.pointee.resumeTo = parent.slice
            _ = StackEngine.start(child.slice, on: world.thread, entry: coroEntry, context: child)
            child.pointee.resumeTo = nil
        }
        startChildOnNextResume = coros + 0
        XCTAssertEqual(StackEngine.resume((coros + 0).slice, on: world.thread), .resumed)
        XCTAssertTrue(coros[2].slice.dedicatedStackRefused)
        DedicatedStack.limit = savedLimit
        for _ in 0..<3 {
            for i in 0..<3 where !coros[i].done {
                XCTAssertEqual(StackEngine.resume((coros + i).slice, on: world.thread), .resumed)
            }
        }
        for i in 0..<3 {
            XCTAssertTrue(coros[i].done, "coroutine \(i)")
            XCTAssertEqual(coros[i].failures, 0, "coroutine \(i)")
        }
        coros.deallocate()
    }

    func testSizes() {
        XCTAssertNil(DedicatedStack.normalizedSize(DedicatedStack.minimumSize - 1))
        XCTAssertNil(DedicatedStack.normalizedSize(DedicatedStack.maximumSize + 1))
        XCTAssertEqual(DedicatedStack.normalizedSize(DedicatedStack.minimumSize + 1),
                       DedicatedStack.minimumSize + DedicatedStack.pageSize)
        var slice = StackSlice()
        XCTAssertFalse(slice.isDedicated)
        slice.requestDedicatedStack(size: DedicatedStack.defaultSize)
        XCTAssertTrue(slice.isDedicated)
        XCTAssertNil(slice.dedicatedStack, "no stack before the start")
    }
}
