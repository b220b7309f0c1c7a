import CPythonShim

// Every difference between CPython versions that the switch path sees lives in this file,
// behind `#if PY_GE_3_X` (set by tools/swift_flags.py for the interpreter being built for).
// The rest of the module asks to capture, install, start or finish the interpreter state.

#if PY_GE_3_11
typealias InterpreterFrame = UnsafeMutablePointer<_PyInterpreterFrame>
#endif
#if PY_GE_3_11 && !PY_GE_3_13
typealias CFrame = _PyCFrame
#elseif !PY_GE_3_11
typealias CFrame = CPythonShim.CFrame
#endif
typealias ThreadStateRef = UnsafeMutablePointer<PyThreadState>

/// The part of CPython's per-thread state that belongs to one greenlet: it is copied out of
/// the thread state when the greenlet switches away and back in when it resumes.
///
/// Lives inside `GreenletState`, at a fixed address, and is only ever used through a pointer:
/// `rootCFrame` is linked into the thread state while the greenlet runs.
struct InterpreterState {
    /// The contextvars context (owned).
    var context: PyRef?
    /// `sys.exc_info()`: the thread's exception stack pointer and its base item (owned refs).
    var exceptionInfo: UnsafeMutablePointer<_PyErr_StackItem>?
    var exceptionBase: _PyErr_StackItem
    var trashNesting: Int32
    #if PY_GE_3_13
    /// Objects the trashcan deferred while this greenlet ran (owned by the trashcan).
    var trashLater: PyRef?
    #endif
    #if PY_GE_3_12
    var pyRecursionDepth: Int32
    var cRecursionDepth: Int32
    #else
    var recursionDepth: Int32
    #endif
    #if PY_GE_3_11
    /// The innermost interpreter frame; the frames live in the greenlet's data stack chunks.
    var currentFrame: InterpreterFrame?
    var datastackChunk: UnsafeMutablePointer<_PyStackChunk>?
    var datastackTop: UnsafeMutablePointer<UnsafeMutablePointer<PyObject>?>?
    var datastackLimit: UnsafeMutablePointer<UnsafeMutablePointer<PyObject>?>?
    #else
    /// The innermost frame object (borrowed: the frames own each other through f_back).
    var topFrame: UnsafeMutablePointer<PyFrameObject>?
    #endif
    #if !PY_GE_3_13
    var cframe: UnsafeMutablePointer<CFrame>?
    /// A started greenlet's bottom CFrame: CPython links the C-level frames it pushes to it.
    var rootCFrame: CFrame
    #endif
    #if !PY_GE_3_12
    var useTracing: TracingFlag
    #endif
    #if PY_GE_3_12
    /// Links of this greenlet's frames that were rerouted around C-stack frames while it is
    /// suspended (see `hideCStackFrames`).
    var reroutedLinks: ReroutedLinks
    #endif

    init() {
        context = nil
        exceptionInfo = nil
        exceptionBase = _PyErr_StackItem()
        trashNesting = 0
        #if PY_GE_3_13
        trashLater = nil
        #endif
        #if PY_GE_3_12
        pyRecursionDepth = 0
        cRecursionDepth = 0
        #else
        recursionDepth = 0
        #endif
        #if PY_GE_3_11
        currentFrame = nil
        datastackChunk = nil
        datastackTop = nil
        datastackLimit = nil
        #else
        topFrame = nil
        #endif
        #if !PY_GE_3_13
        cframe = nil
        rootCFrame = CFrame()
        #endif
        #if !PY_GE_3_12
        useTracing = 0
        #endif
        #if PY_GE_3_12
        reroutedLinks = ReroutedLinks()
        #endif
    }
}

#if PY_GE_3_11
typealias TracingFlag = UInt8
#else
typealias TracingFlag = Int32
#endif

extension UnsafeMutablePointer where Pointee == InterpreterState {
    /// Moves the running greenlet's state out of the thread state.
    @inline(__always)
    func capture(from ts: ThreadStateRef) {
        pointee.context = ts.pointee.context
        ts.pointee.context = nil
        pointee.exceptionInfo = ts.pointee.exc_info
        pointee.exceptionBase = ts.pointee.exc_state
        ts.pointee.exc_state = _PyErr_StackItem()
        captureRecursionDepth(from: ts)
        #if PY_GE_3_13
        pointee.currentFrame = ts.pointee.current_frame
        #elseif PY_GE_3_11
        pointee.cframe = ts.pointee.cframe
        pointee.currentFrame = ts.pointee.cframe.pointee.current_frame
        #else
        pointee.cframe = ts.pointee.cframe
        pointee.topFrame = ts.pointee.frame
        #endif
        #if !PY_GE_3_12
        pointee.useTracing = ts.pointee.cframe.pointee.use_tracing
        #endif
        #if PY_GE_3_11
        pointee.datastackChunk = ts.pointee.datastack_chunk
        pointee.datastackTop = ts.pointee.datastack_top
        pointee.datastackLimit = ts.pointee.datastack_limit
        #endif
        #if PY_GE_3_12
        hideCStackFrames()
        #endif
        #if PY_GE_3_13
        trashCapture(ts)
        #elseif PY_GE_3_12
        pointee.trashNesting = ts.pointee.trash.delete_nesting
        #else
        pointee.trashNesting = ts.pointee.trash_delete_nesting
        #endif
    }

    /// How deep the thread's Python (and, on 3.12+, C) recursion is now.
    @inline(__always)
    private func captureRecursionDepth(from ts: ThreadStateRef) {
        #if PY_GE_3_12
        pointee.pyRecursionDepth = ts.pointee.py_recursion_limit - ts.pointee.py_recursion_remaining
        pointee.cRecursionDepth = cRecursionLimit - ts.pointee.c_recursion_remaining
        #elseif PY_GE_3_11
        pointee.recursionDepth = ts.pointee.recursion_limit - ts.pointee.recursion_remaining
        #else
        pointee.recursionDepth = ts.pointee.recursion_depth
        #endif
    }

    /// Moves this greenlet's state into the thread state, as it was when it switched away.
    /// `origin` is the state captured from the greenlet that switched away: whether Python
    /// tracing is on carries over from it, as `sys.settrace` is per thread, not per greenlet.
    @inline(__always)
    func install(into ts: ThreadStateRef, after origin: UnsafeMutablePointer<InterpreterState>) {
        ts.pointee.context = pointee.context
        pointee.context = nil
        // A new context version invalidates ContextVar caches that were filled in another greenlet.
        ts.pointee.context_ver &+= 1
        #if PY_GE_3_12
        restoreCStackFrames()
        #endif
        ts.pointee.exc_state = pointee.exceptionBase
        pointee.exceptionBase = _PyErr_StackItem()
        if let info = pointee.exceptionInfo {
            ts.pointee.exc_info = info
        } else {
            ts.pointee.exc_info = withUnsafeMutablePointer(to: &ts.pointee.exc_state) { $0 }
        }
        pointee.exceptionInfo = nil
        #if PY_GE_3_12
        ts.pointee.py_recursion_remaining = ts.pointee.py_recursion_limit - pointee.pyRecursionDepth
        ts.pointee.c_recursion_remaining = cRecursionLimit - pointee.cRecursionDepth
        #elseif PY_GE_3_11
        ts.pointee.recursion_remaining = ts.pointee.recursion_limit - pointee.recursionDepth
        #else
        ts.pointee.recursion_depth = pointee.recursionDepth
        #endif
        #if PY_GE_3_13
        ts.pointee.current_frame = pointee.currentFrame
        #elseif PY_GE_3_11
        ts.pointee.cframe = pointee.cframe
        ts.pointee.cframe.pointee.current_frame = pointee.currentFrame
        #else
        ts.pointee.cframe = pointee.cframe
        ts.pointee.frame = pointee.topFrame
        #endif
        #if !PY_GE_3_12
        ts.pointee.cframe.pointee.use_tracing = origin.pointee.useTracing
        #endif
        #if PY_GE_3_11
        ts.pointee.datastack_chunk = pointee.datastackChunk
        ts.pointee.datastack_top = pointee.datastackTop
        ts.pointee.datastack_limit = pointee.datastackLimit
        #endif
        // While it runs, its frames and data stack belong to the thread state.
        forgetRunningState()
        #if PY_GE_3_13
        trashInstall(ts)
        #elseif PY_GE_3_12
        ts.pointee.trash.delete_nesting = pointee.trashNesting
        #else
        ts.pointee.trash_delete_nesting = pointee.trashNesting
        #endif
    }

    /// Drops the saved pointers to frames and data stack without freeing anything: the
    /// thread state owns them while the greenlet runs.
    @inline(__always)
    func forgetRunningState() {
        #if PY_GE_3_11
        pointee.currentFrame = nil
        pointee.datastackChunk = nil
        pointee.datastackTop = nil
        pointee.datastackLimit = nil
        #else
        pointee.topFrame = nil
        #endif
    }

    /// Prepares the state a greenlet starts with: no frames, no exception, the recursion depth
    /// of the greenlet that starts it, a fresh data stack. The context set before the start
    /// (`gr_context`) is kept.
    func prepareStart(from ts: ThreadStateRef, chunks: UnsafeMutablePointer<ChunkPool>) {
        pointee.exceptionInfo = nil
        pointee.exceptionBase = _PyErr_StackItem()
        pointee.trashNesting = 0
        captureRecursionDepth(from: ts)
        #if !PY_GE_3_13
        // The bottom CFrame: a copy of the thread's, chained to the thread's root so that
        // CPython's own unwinding never walks into another greenlet's C frames.
        pointee.rootCFrame = ts.pointee.cframe.pointee
        pointee.rootCFrame.previous = withUnsafeMutablePointer(to: &ts.pointee.root_cframe) { $0 }
        pointee.cframe = withUnsafeMutablePointer(to: &pointee.rootCFrame) { $0 }
        #endif
        #if PY_GE_3_11 && !PY_GE_3_13
        pointee.rootCFrame.current_frame = nil
        #endif
        #if PY_GE_3_11
        pointee.currentFrame = nil
        chunks.lend(to: self)
        #else
        pointee.topFrame = nil
        #endif
        #if !PY_GE_3_12
        pointee.useTracing = ts.pointee.cframe.pointee.use_tracing
        #endif
    }

    /// The greenlet's run returned: give its data stack back. Frames pushed after this (by
    /// the final switch's own calls) get fresh chunks, which `discard` frees later.
    func finish(in ts: ThreadStateRef, chunks: UnsafeMutablePointer<ChunkPool>) {
        #if PY_GE_3_11
        chunks.reclaim(ts.pointee.datastack_chunk)
        ts.pointee.datastack_chunk = nil
        ts.pointee.datastack_top = nil
        ts.pointee.datastack_limit = nil
        #endif
    }

    /// Frees what a greenlet that will never run again still holds. Only for greenlets that are
    /// not running: their data stack is not in use by the thread state.
    func discard(chunks: UnsafeMutablePointer<ChunkPool>?) {
        release(pointee.context)
        pointee.context = nil
        release(pointee.exceptionBase.exc_value)
        #if !PY_GE_3_11
        release(pointee.exceptionBase.exc_type)
        release(pointee.exceptionBase.exc_traceback)
        #endif
        pointee.exceptionBase = _PyErr_StackItem()
        pointee.exceptionInfo = nil
        #if PY_GE_3_12
        ReroutedLinks.release(&pointee.reroutedLinks)
        #endif
        #if PY_GE_3_11
        ChunkPool.free(pointee.datastackChunk, into: chunks)
        pointee.datastackChunk = nil
        pointee.datastackTop = nil
        pointee.datastackLimit = nil
        pointee.currentFrame = nil
        #else
        // Before 3.11 the innermost frame's last reference was held by the greenlet's own C
        // stack, which is gone for good: take it over and drop it, freeing the frame.
        release(pointee.topFrame.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: PyObject.self) })
        pointee.topFrame = nil
        #endif
    }

    /// The suspended greenlet's innermost Python frame, as a new reference, or nil.
    func topFrameObject(_ ts: ThreadStateRef) -> PyRef? {
        #if PY_GE_3_11
        guard pointee.currentFrame != nil else { return nil }
        // CPython makes frame objects only for the thread's own frames: point the thread state
        // at this greenlet's frames for the one call. Collection is paused so that no Python
        // code runs in between.
        let gcWasEnabled = PyGC_Disable()
        #if PY_GE_3_13
        let saved = ts.pointee.current_frame
        ts.pointee.current_frame = pointee.currentFrame
        let frame = PyThreadState_GetFrame(ts)
        ts.pointee.current_frame = saved
        #else
        let saved = ts.pointee.cframe.pointee.current_frame
        ts.pointee.cframe.pointee.current_frame = pointee.currentFrame
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

#if PY_GE_3_13
extension UnsafeMutablePointer where Pointee == InterpreterState {
    // 3.13 keeps the trashcan's pending objects in `delete_later`; they follow the greenlet.
    @inline(__always) func trashCapture(_ ts: ThreadStateRef) {
        pointee.trashLater = ts.pointee.delete_later
        ts.pointee.delete_later = nil
    }
    @inline(__always) func trashInstall(_ ts: ThreadStateRef) {
        ts.pointee.delete_later = pointee.trashLater
        pointee.trashLater = nil
    }
}
#endif

#if PY_GE_3_12
let cRecursionLimit: Int32 = GL_C_RECURSION_LIMIT
#endif

/// Enters and leaves CPython's "tracing" state around a call of the greenlet trace function,
/// so the function's own frames are not traced.
enum Tracing {
    static func enter(_ ts: ThreadStateRef) {
        #if PY_GE_3_11
        PyThreadState_EnterTracing(ts)
        #else
        ts.pointee.tracing += 1
        ts.pointee.cframe.pointee.use_tracing = 0
        #endif
    }

    static func leave(_ ts: ThreadStateRef) {
        #if PY_GE_3_11
        PyThreadState_LeaveTracing(ts)
        #else
        ts.pointee.tracing -= 1
        ts.pointee.cframe.pointee.use_tracing =
            (ts.pointee.c_tracefunc != nil || ts.pointee.c_profilefunc != nil) ? 1 : 0
        #endif
    }
}

/// True once the interpreter has begun finalizing (after atexit callbacks): greenlet then
/// refuses new work instead of touching a half torn-down interpreter.
@inline(__always) func interpreterIsFinalizing() -> Bool {
    #if PY_GE_3_13
    return Py_IsFinalizing() != 0
    #else
    return _Py_IsFinalizing() != 0
    #endif
}

/// The running thread's CPython state.
@inline(__always) func currentThreadState() -> ThreadStateRef { PyThreadState_Get() }

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

    static let cStackOwner = CChar(FRAME_OWNED_BY_CSTACK.rawValue)

    static func release(_ links: inout ReroutedLinks) {
        if let storage = links.links { PyMem_Free(storage) }
        links = ReroutedLinks()
    }
}

extension UnsafeMutablePointer where Pointee == InterpreterState {
    /// Reroutes the suspended frames' links around C-stack frames. Runs before the stack
    /// switch, while those C-stack frames are still intact.
    @inline(__always)
    func hideCStackFrames() {
        var frame = pointee.currentFrame
        while let current = frame {
            guard let below = current.pointee.previous else { return }
            if below.pointee.owner != ReroutedLinks.cStackOwner {
                frame = below
                continue
            }
            var next = below.pointee.previous
            while let candidate = next, candidate.pointee.owner == ReroutedLinks.cStackOwner {
                next = candidate.pointee.previous
            }
            guard recordReroute(of: current, from: below) else { return }
            current.pointee.previous = next
            frame = next
        }
    }

    /// Puts back every rerouted link, innermost first, before the frames run again.
    @inline(__always)
    func restoreCStackFrames() {
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
