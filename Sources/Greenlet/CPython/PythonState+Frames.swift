import CPythonShim

// A suspended greenlet's Python frames: making a frame object for `gr_frame`, and keeping
// `f_back` walks off the C stack (3.12+).

extension PythonState {
    /// For the offsets table (`DebugOffsets`): where a suspended greenlet's innermost Python
    /// frame is, readable from outside the process, and what kind of frame it is.
    static var topFrameOffset: UInt64 {
        #if PY_GE_3_12
        UInt64(MemoryLayout<PythonState>.offset(of: \PythonState.suspendedTop)!)
        #elseif PY_GE_3_11
        UInt64(MemoryLayout<PythonState>.offset(of: \PythonState.currentFrame)!)
        #else
        UInt64(MemoryLayout<PythonState>.offset(of: \PythonState.topFrame)!)
        #endif
    }

    /// 1: an `_PyInterpreterFrame`; 2: a `PyFrameObject` (3.10).
    static var topFrameKind: UInt64 {
        #if PY_GE_3_11
        1
        #else
        2
        #endif
    }
}

extension UnsafeMutablePointer where Pointee == PythonState {
    /// The suspended greenlet's innermost Python frame, as a new reference, or nil.
    func topFrameObject(_ ts: PyThreadStateRef) -> PyRef? {
        #if PY_GE_3_11
        #if PY_GE_3_12
        guard pointee.currentFrame != nil, let top = pointee.suspendedTop else { return nil }
        #else
        guard let top = pointee.currentFrame else { return nil }
        #endif
        // CPython makes frame objects only for the thread's own frames: point the thread state
        // at this greenlet's frames for the one call. Collection is paused so that no Python
        // code runs in between.
        let gcWasEnabled = PyGC_Disable()
        #if PY_GE_3_13
        let saved = ts.pointee.current_frame
        ts.pointee.current_frame = top
        let frame = PyThreadState_GetFrame(ts)
        ts.pointee.current_frame = saved
        #else
        let saved = ts.pointee.cframe.pointee.current_frame
        ts.pointee.cframe.pointee.current_frame = top
        let frame = PyThreadState_GetFrame(ts)
        ts.pointee.cframe.pointee.current_frame = saved
        #endif
        if gcWasEnabled != 0 { PyGC_Enable() }
        return frame.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: PyObject.self) }
        #else
        guard let frame = pointee.topFrame else { return nil }
        let object = UnsafeMutableRawPointer(frame).assumingMemoryBound(to: PyObject.self)
        return object.newReference()
        #endif
    }
}

#if PY_GE_3_12
/// Who owns an interpreter frame, as far as a suspended greenlet cares.
enum FrameOwner {
    /// True for the entry frames `_PyEval_EvalFrameDefault` keeps on the C stack: owned by
    /// the C stack on 3.12 and 3.13, by the interpreter from 3.14 (where CPython's own test
    /// for an incomplete frame is `owner >= FRAME_OWNED_BY_INTERPRETER`; 3.15 drops the old
    /// C-stack owner).
    @inline(__always)
    static func livesOnCStack(_ frame: InterpreterFrame) -> Bool {
        #if PY_GE_3_14
        return frame.pointee.owner >= interpreter
        #else
        return frame.pointee.owner == cStack
        #endif
    }

    /// The same test by address, which need not read the frame: the entry frames are the
    /// only frames on a C stack (the others live in data stack chunks, generators and frame
    /// objects, all on the heap). `thread` is the running thread's stack, where every
    /// greenlet of the thread runs; if it is not known, the owner decides.
    @inline(__always)
    static func livesOnCStack(_ frame: InterpreterFrame, _ thread: CStackRange) -> Bool {
        thread.isKnown ? thread.contains(UnsafeRawPointer(frame)) : livesOnCStack(frame)
    }

    #if PY_GE_3_14
    static let interpreter = CChar(FRAME_OWNED_BY_INTERPRETER.rawValue)
    #else
    static let cStack = CChar(FRAME_OWNED_BY_CSTACK.rawValue)
    #endif
    /// A frame that a function call pushed on the thread's data stack (not a generator's).
    static let thread = CChar(FRAME_OWNED_BY_THREAD.rawValue)
}

#endif

/// Where a thread's C stack lies: the memory its greenlets' entry frames live in. Testing
/// an address against it is cheaper, on a long walk of frames, than reading each frame's
/// owner, which may lie on another cache line.
struct CStackRange {
    let low: UInt
    let size: UInt

    /// The running thread's, or an unknown range if the system will not say.
    static func ofRunningThread() -> CStackRange {
        var low: UInt = 0, size: UInt = 0
        guard gl_thread_stack_bounds(&low, &size) == 0 else { return CStackRange(low: 0, size: 0) }
        return CStackRange(low: low, size: size)
    }

    var isKnown: Bool { size != 0 }

    @inline(__always)
    func contains(_ address: UnsafeRawPointer) -> Bool {
        UInt(bitPattern: address) &- low < size
    }
}

#if PY_GE_3_12
/// From 3.12, each entry into the eval loop from C pushes a frame that lives on the C stack,
/// and the Python frame above it links to it through `previous`. Once a greenlet is suspended,
/// its part of the C stack may hold another greenlet's bytes, so anyone walking `f_back` from
/// one of its frames (gr_frame, or a frame object kept from `sys._getframe` or a traceback)
/// would read garbage (cpython#113037).
///
/// So when a greenlet switches away, the links that point at C-stack frames are rerouted to
/// the next frame below that is not on the C stack, and put back when it resumes. Only the
/// reroutes are recorded, so putting them back costs one store per C re-entry, not per frame,
/// and no frame objects are made.
struct ReroutedLinks {
    var links: UnsafeMutablePointer<(frame: InterpreterFrame, original: InterpreterFrame)>?
    var count = 0
    var capacity = 0

    static func release(_ links: inout ReroutedLinks) {
        if let storage = links.links { PyMem_Free(storage) }
        links = ReroutedLinks()
    }
}

extension UnsafeMutablePointer where Pointee == PythonState {
    /// Reroutes the suspended frames' links around C-stack frames, and finds the innermost
    /// frame that is not on the C stack. Runs before the stack switch, while those C-stack
    /// frames are still intact.
    ///
    /// The innermost frame itself can be on the C stack: a greenlet may switch while the eval
    /// loop clears a returning frame and has already made its entry frame current.
    @inline(__always)
    func rerouteLinksAroundCStackFrames(_ cStack: CStackRange) {
        var frame = pointee.currentFrame
        while let top = frame, FrameOwner.livesOnCStack(top, cStack) {
            frame = top.pointee.previous
        }
        pointee.suspendedTop = frame
        while let current = frame {
            guard let below = current.pointee.previous else { return }
            if !FrameOwner.livesOnCStack(below, cStack) {
                frame = below
                continue
            }
            var next = below.pointee.previous
            while let candidate = next, FrameOwner.livesOnCStack(candidate, cStack) {
                next = candidate.pointee.previous
            }
            guard recordReroute(of: current, from: below) else { return }
            current.pointee.previous = next
            frame = next
        }
    }

    /// For a greenlet on a dedicated stack: no other greenlet ever writes over its C-stack
    /// frames, so its links stay as they are, and only the innermost frame that is not on
    /// the C stack is found.
    @inline(never)
    func findSuspendedTop() {
        var frame = pointee.currentFrame
        while let top = frame, FrameOwner.livesOnCStack(top) {
            frame = top.pointee.previous
        }
        pointee.suspendedTop = frame
    }

    /// Puts back every rerouted link, innermost first, before the frames run again.
    @inline(__always)
    func restoreReroutedLinks() {
        pointee.suspendedTop = nil
        let count = pointee.reroutedLinks.count
        guard count > 0, let links = pointee.reroutedLinks.links else { return }
        for index in 0..<count {
            links[index].frame.pointee.previous = links[index].original
        }
        pointee.reroutedLinks.count = 0
    }

    /// False if memory ran out: the walk stops there, leaving the remaining links as they are
    /// (as unsafe to walk as CPython alone would leave them, but never wrong once resumed).
    private func recordReroute(of frame: InterpreterFrame, from original: InterpreterFrame) -> Bool {
        if pointee.reroutedLinks.count == pointee.reroutedLinks.capacity {
            let capacity = Swift.max(4, pointee.reroutedLinks.capacity * 2)
            let size = capacity * MemoryLayout<(frame: InterpreterFrame, original: InterpreterFrame)>.stride
            guard let grown = PyMem_Realloc(pointee.reroutedLinks.links, size) else { return false }
            pointee.reroutedLinks.links = grown.assumingMemoryBound(to: (frame: InterpreterFrame, original: InterpreterFrame).self)
            pointee.reroutedLinks.capacity = capacity
        }
        pointee.reroutedLinks.links![pointee.reroutedLinks.count] = (frame, original)
        pointee.reroutedLinks.count += 1
        return true
    }
}
#endif

/// What the cyclic collector may know of suspended greenlets.
///
/// A suspended greenlet's frames hold references that only the greenlet can release. From
/// 3.15 CPython exports what visiting them needs, and they are visited as CPython visits a
/// generator's frames. Up to 3.14 the collector cannot see them: 3.11 to 3.13 do not even
/// record how deep an executing frame's value stack is when it calls out, so a visit would
/// have to guess, and a wrong guess frees live objects. Unseen references count as coming
/// from outside, which keeps what they refer to alive: a cycle through a suspended frame's
/// locals lives until it is broken or the greenlet resumes. Cycles through the greenlet
/// object itself (its dict, `run`, parent, arguments) are collected on every version.
///
/// On every version, a suspended greenlet in garbage is killed by its finalizer (see
/// `Lifecycle.finalize`) before anything is cleared, and one whose thread is gone has its
/// frames cleared where they are visible.
extension UnsafeMutablePointer where Pointee == PythonState {
    /// Visits what a suspended greenlet's frames hold (`tp_traverse`); nothing while it runs,
    /// when the frames belong to the thread, or before 3.15.
    func traverseSuspendedFrames(_ visit: visitproc, _ arg: UnsafeMutableRawPointer?) -> Int32 {
        #if PY_GE_3_15
        guard pointee.currentFrame != nil else { return 0 }
        var frame = pointee.suspendedTop
        while let current = frame {
            // A generator's frame is its generator's to visit.
            if current.pointee.owner == FrameOwner.thread {
                let result = gl_frame_traverse(current, visit, arg)
                if result != 0 { return result }
            }
            frame = current.pointee.previous
        }
        #endif
        return 0
    }

    /// Releases what the frames of a greenlet that can never run again hold: its thread has
    /// exited. From 3.15 only; before, those references leak, as they do upstream.
    func clearOrphanedFrames() {
        #if PY_GE_3_15
        guard pointee.currentFrame != nil else { return }
        var frame = pointee.suspendedTop
        while let current = frame {
            frame = current.pointee.previous
            if current.pointee.owner == FrameOwner.thread { gl_frame_clear(current) }
        }
        // The frames are empty; the data stack they live in goes with `discard`.
        pointee.currentFrame = nil
        pointee.suspendedTop = nil
        #endif
    }
}
