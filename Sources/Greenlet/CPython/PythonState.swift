import CPythonShim

// Every difference between CPython versions and builds lives in this file and its
// companions (`PythonState+Frames.swift`, `+Recursion`, `+Runtime`, `+DataStack`,
// `+FreeThreading`), behind `#if PY_GE_3_X` and `#if PY_GIL_DISABLED` conditions that
// tools/swift_flags.py sets for the interpreter being built for. This file says what a greenlet's share of the thread state is and moves it in and out;
// the companions hold one concern each. The rest of the module never asks which Python it
// runs on.

#if PY_GE_3_11
typealias InterpreterFrame = UnsafeMutablePointer<_PyInterpreterFrame>
#endif
#if PY_GE_3_11 && !PY_GE_3_13
typealias CFrame = _PyCFrame
#elseif !PY_GE_3_11
typealias CFrame = CPythonShim.CFrame
#endif
typealias PyThreadStateRef = UnsafeMutablePointer<PyThreadState>

/// The part of CPython's per-thread state that belongs to one greenlet: it is copied out of
/// the thread state when the greenlet switches away and back in when it resumes.
///
/// Lives inside `GreenletState`, at a fixed address, and is only ever used through a pointer:
/// `rootCFrame` is linked into the thread state while the greenlet runs.
struct PythonState {
    /// The contextvars context (owned).
    var context: PyRef?
    /// `sys.exc_info()`: the thread's exception stack pointer and its base item (owned refs).
    var exceptionInfo: UnsafeMutablePointer<_PyErr_StackItem>?
    var exceptionBase: _PyErr_StackItem
    /// The trashcan's per-greenlet part (see `+Runtime`).
    var trash: TrashState
    /// How deep the greenlet's recursion was when it switched away (see `+Recursion`).
    var recursion: RecursionDepth
    #if PY_GE_3_11
    /// The innermost interpreter frame; the frames live in the greenlet's data stack chunks.
    var currentFrame: InterpreterFrame?
    var datastackChunk: UnsafeMutablePointer<_PyStackChunk>?
    var datastackTop: UnsafeMutablePointer<UnsafeMutablePointer<PyObject>?>?
    var datastackLimit: UnsafeMutablePointer<UnsafeMutablePointer<PyObject>?>?
    /// The root chunk lent at start, kept while the greenlet runs too, when the thread
    /// state holds the chain: if the thread ends inside the greenlet, only this finds it.
    var rootChunk: UnsafeMutablePointer<_PyStackChunk>?
    #else
    /// The innermost frame object (borrowed: the frames own each other through f_back).
    var topFrame: UnsafeMutablePointer<PyFrameObject>?
    #endif
    #if PY_GE_3_14
    /// The tier-2 executor that was running when the greenlet switched away (borrowed, as
    /// in the thread state). Another greenlet must not find it, and this one must again.
    var currentExecutor: PyRef?
    /// The innermost frame's value stack pointer at switch-out. The eval loop spilled it
    /// before calling `switch()`; it is put back on resume, so that whatever read it in
    /// between (frame introspection, the collector) leaves the frame as it was.
    var stackPointer: UnsafeMutablePointer<_PyStackRef>?
    #endif
    #if !PY_GE_3_13
    var cframe: UnsafeMutablePointer<CFrame>?
    /// A started greenlet's bottom CFrame: CPython links the C-level frames it pushes to it.
    var rootCFrame: CFrame
    #endif
    #if !PY_GE_3_12
    var useTracing: TracingFlag
    #endif
    /// Critical sections and C-stack references, without the GIL (see `+FreeThreading`).
    var freeThreaded: FreeThreadedState
    #if PY_GE_3_12
    /// Links of this greenlet's frames that were rerouted around C-stack frames while it is
    /// suspended (see `rerouteLinksAroundCStackFrames`).
    var reroutedLinks: ReroutedLinks
    /// While it is suspended, the innermost of its frames that is not on the C stack: walks
    /// of a suspended greenlet's frames start here (see `+Frames`).
    var suspendedTop: InterpreterFrame?
    #endif

    init() {
        context = nil
        exceptionInfo = nil
        exceptionBase = _PyErr_StackItem()
        trash = TrashState()
        recursion = RecursionDepth()
        #if PY_GE_3_11
        currentFrame = nil
        datastackChunk = nil
        datastackTop = nil
        datastackLimit = nil
        rootChunk = nil
        #else
        topFrame = nil
        #endif
        #if PY_GE_3_14
        currentExecutor = nil
        stackPointer = nil
        #endif
        #if !PY_GE_3_13
        cframe = nil
        rootCFrame = CFrame()
        #endif
        #if !PY_GE_3_12
        useTracing = 0
        #endif
        freeThreaded = FreeThreadedState()
        #if PY_GE_3_12
        reroutedLinks = ReroutedLinks()
        suspendedTop = nil
        #endif
    }
}

#if PY_GE_3_11
typealias TracingFlag = UInt8
#else
typealias TracingFlag = Int32
#endif

extension UnsafeMutablePointer where Pointee == PythonState {
    /// Moves the running greenlet's state out of the thread state. `cStack` is the thread's
    /// C stack, where the frames to hide from `f_back` walks lie, unless the greenlet runs on
    /// a dedicated stack (`ownStack`): its frames there stay intact while it is suspended.
    @inline(__always)
    func capture(from ts: PyThreadStateRef, cStack: CStackRange, ownStack: Bool) {
        pointee.context = ts.pointee.context
        ts.pointee.context = nil
        pointee.exceptionInfo = ts.pointee.exc_info
        pointee.exceptionBase = ts.pointee.exc_state
        ts.pointee.exc_state = _PyErr_StackItem()
        pointee.recursion.capture(from: ts)
        #if PY_GE_3_13
        pointee.currentFrame = ts.pointee.current_frame
        #elseif PY_GE_3_11
        pointee.cframe = ts.pointee.cframe
        pointee.currentFrame = ts.pointee.cframe.pointee.current_frame
        #else
        pointee.cframe = ts.pointee.cframe
        pointee.topFrame = ts.pointee.frame
        #endif
        #if PY_GE_3_14
        pointee.currentExecutor = ts.pointee.current_executor
        pointee.stackPointer = pointee.currentFrame?.pointee.stackpointer
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
        if _slowPath(ownStack) {
            findSuspendedTop()
        } else {
            rerouteLinksAroundCStackFrames(cStack)
        }
        #endif
        pointee.trash.capture(from: ts)
        pointee.freeThreaded.capture(from: ts)
    }

    /// Moves this greenlet's state into the thread state, as it was when it switched away.
    /// `origin` is the state captured from the greenlet that switched away: whether Python
    /// tracing is on carries over from it, as `sys.settrace` is per thread, not per greenlet.
    @inline(__always)
    func install(into ts: PyThreadStateRef, after origin: UnsafeMutablePointer<PythonState>) {
        ts.pointee.context = pointee.context
        pointee.context = nil
        // A new context version invalidates ContextVar caches that were filled in another greenlet.
        ts.pointee.context_ver &+= 1
        #if PY_GE_3_12
        restoreReroutedLinks()
        #endif
        ts.pointee.exc_state = pointee.exceptionBase
        pointee.exceptionBase = _PyErr_StackItem()
        if let info = pointee.exceptionInfo {
            ts.pointee.exc_info = info
        } else {
            ts.pointee.exc_info = ts.pointer(to: \.exc_state)!
        }
        pointee.exceptionInfo = nil
        pointee.recursion.install(into: ts)
        #if PY_GE_3_13
        ts.pointee.current_frame = pointee.currentFrame
        #elseif PY_GE_3_11
        ts.pointee.cframe = pointee.cframe
        ts.pointee.cframe.pointee.current_frame = pointee.currentFrame
        #else
        ts.pointee.cframe = pointee.cframe
        ts.pointee.frame = pointee.topFrame
        #endif
        #if PY_GE_3_14
        ts.pointee.current_executor = pointee.currentExecutor
        pointee.currentExecutor = nil
        if let frame = pointee.currentFrame { frame.pointee.stackpointer = pointee.stackPointer }
        pointee.stackPointer = nil
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
        pointee.trash.install(into: ts)
        pointee.freeThreaded.install(into: ts)
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

    /// The thread ended while this greenlet ran, and CPython freed the data stack it had made
    /// along with the thread state: forget the frames and give back the root it could not free.
    func abandonAfterThreadClear() {
        #if PY_GE_3_11
        DataStackChunkPool.reclaimAfterThreadClear(pointee.rootChunk)
        pointee.rootChunk = nil
        #endif
        forgetRunningState()
    }

    /// Prepares the state a greenlet starts with: no frames, no exception, the recursion depth
    /// of the greenlet that starts it, a fresh data stack, no executor. The context set before
    /// the start (`gr_context`) is kept.
    /// `stackBytes`: the stack it starts on, if not right below its starter (`RecursionDepth`).
    func prepareStart(from ts: PyThreadStateRef, chunks: UnsafeMutablePointer<DataStackChunkPool>,
                      stackBytes: Int?) {
        pointee.exceptionInfo = nil
        pointee.exceptionBase = _PyErr_StackItem()
        pointee.trash = TrashState()
        pointee.freeThreaded.prepareStart()
        pointee.recursion.prepareStart(from: ts, stackBytes: stackBytes)
        #if !PY_GE_3_13
        // The bottom CFrame: a copy of the thread's, chained to the thread's root so that
        // CPython's own unwinding never walks into another greenlet's C frames.
        pointee.rootCFrame = ts.pointee.cframe.pointee
        pointee.rootCFrame.previous = ts.pointer(to: \.root_cframe)!
        pointee.cframe = pointer(to: \.rootCFrame)!
        #endif
        #if PY_GE_3_11 && !PY_GE_3_13
        pointee.rootCFrame.current_frame = nil
        #endif
        #if PY_GE_3_11
        pointee.currentFrame = nil
        let chunk = chunks.take()
        pointee.datastackChunk = chunk
        pointee.rootChunk = chunk
        let bounds = chunk.map { DataStackChunkPool.rootBounds(of: $0) }
        pointee.datastackTop = bounds?.top
        pointee.datastackLimit = bounds?.limit
        #else
        pointee.topFrame = nil
        #endif
        #if PY_GE_3_14
        pointee.currentExecutor = nil
        pointee.stackPointer = nil
        #endif
        #if !PY_GE_3_12
        pointee.useTracing = ts.pointee.cframe.pointee.use_tracing
        #endif
    }

    /// The greenlet's run returned: give its data stack back. Frames pushed after this (by
    /// the final switch's own calls) get fresh chunks, which `discard` frees later.
    func finish(in ts: PyThreadStateRef, chunks: UnsafeMutablePointer<DataStackChunkPool>) {
        #if PY_GE_3_11
        assert(pointee.rootChunk == nil || ts.pointee.datastack_chunk == pointee.rootChunk,
               "a finished greenlet's frames are all popped, down to its root chunk")
        chunks.reclaim(ts.pointee.datastack_chunk)
        pointee.rootChunk = nil
        ts.pointee.datastack_chunk = nil
        ts.pointee.datastack_top = nil
        ts.pointee.datastack_limit = nil
        #endif
    }

    /// Frees what a greenlet that will never run again still holds. Only for greenlets that are
    /// not running: their data stack is not in use by the thread state.
    func discard(chunks: UnsafeMutablePointer<DataStackChunkPool>?) {
        release(pointee.context)
        pointee.context = nil
        release(pointee.exceptionBase.exc_value)
        #if !PY_GE_3_11
        release(pointee.exceptionBase.exc_type)
        release(pointee.exceptionBase.exc_traceback)
        #endif
        pointee.exceptionBase = _PyErr_StackItem()
        pointee.exceptionInfo = nil
        pointee.freeThreaded.discard()
        #if PY_GE_3_12
        ReroutedLinks.release(&pointee.reroutedLinks)
        pointee.suspendedTop = nil
        #endif
        #if PY_GE_3_14
        pointee.currentExecutor = nil
        pointee.stackPointer = nil
        #endif
        #if PY_GE_3_11
        DataStackChunkPool.free(pointee.datastackChunk, into: chunks)
        pointee.rootChunk = nil
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
}
