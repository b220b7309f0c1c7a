import CPythonShim

/// The greenlet's Python attributes: `run`, `parent`, `gr_frame`, `gr_context`, `dead`,
/// `__dict__`, `_stack_saved`.
enum Attributes {
    static let getRun: getter = { object, _ in
        withCriticalSection(object!) {
            let state = object!.asGreenlet.state
            if state.pointee.isMain {
                return setError(PyExc_AttributeError, "Main greenlets do not have a run attribute.")
            }
            guard !state.pointee.stack.isStarted, let run = state.pointee.run else {
                return setError(PyExc_AttributeError, "run")
            }
            return run.newReference()
        }
    }

    static let setRun: setter = { object, value, _ in
        withCriticalSection(object!) {
            let state = object!.asGreenlet.state
            if state.pointee.isMain {
                setError(PyExc_AttributeError, "Main greenlets do not have a run attribute.")
                return -1
            }
            if state.pointee.stack.isStarted {
                setError(PyExc_AttributeError, "run cannot be set after the start of the greenlet")
                return -1
            }
            let old = state.pointee.run
            state.pointee.run = value?.newReference()
            release(old)
            return 0
        }
    }

    static let getParent: getter = { object, _ in
        withCriticalSection(object!) {
            guard let parent = object!.asGreenlet.state.pointee.parent else { return newNone() }
            return parent.object.newReference()
        }
    }

    static let setParent: setter = { object, value, _ in
        setParent(of: object!.asGreenlet, to: value) ? 0 : -1
    }

    /// Re-parents `greenlet`, refusing deletion, non-greenlets, cycles and other threads.
    static func setParent(of greenlet: GreenletRef, to value: PyRef?) -> Bool {
        withCriticalSection(greenlet.object) { replaceParent(of: greenlet, with: value) }
    }

    private static func replaceParent(of greenlet: GreenletRef, with value: PyRef?) -> Bool {
        let state = greenlet.state
        guard let value else {
            setError(PyExc_AttributeError, "can't delete attribute")
            return false
        }
        if state.pointee.isMain {
            setError(PyExc_AttributeError, "cannot set the parent of a main greenlet")
            return false
        }
        guard value.isGreenlet else {
            setError(
                PyExc_TypeError, format: "GreenletChecker: Expected any type of greenlet, not %s",
                value.type.pointee.tp_name ?? cString("?"))
            return false
        }
        let newParent = value.asGreenlet
        var mainOfNewParent: GreenletRef? = nil
        var next: GreenletRef? = newParent
        while let candidate = next {
            if candidate == greenlet {
                setError(PyExc_ValueError, "cyclic parent chain")
                return false
            }
            let candidateState = candidate.state
            mainOfNewParent = candidateState.pointee.isMain ? candidate : candidateState.pointee.main
            next = candidateState.pointee.parent
        }
        guard let mainOfNewParent else {
            setError(PyExc_ValueError, "parent must not be garbage collected")
            return false
        }
        if state.pointee.stack.isStarted && state.pointee.main != mainOfNewParent {
            setError(PyExc_ValueError, "parent cannot be on a different thread")
            return false
        }
        let old = state.pointee.parent
        state.pointee.parent = newParent.object.newReference().asGreenlet
        release(old?.object)
        return true
    }

    /// The innermost frame of a suspended greenlet. Without the GIL, a greenlet of another
    /// live thread may resume while its frames are read, so there it has none to show.
    static let getFrame: getter = { object, _ in
        withCriticalSection(object!) {
            let state = object!.asGreenlet.state
            guard state.isSuspended else { return newNone() }
            if FreeThreading.isEnabled, let owner = state.owningThread, owner != ThreadState.currentIfCreated {
                return newNone()
            }
            return state.python.topFrameObject(currentThreadState()) ?? newNone()
        }
    }

    /// Where a greenlet's context is: in the thread state while it runs (only reachable from
    /// its own thread), in the greenlet otherwise.
    private enum ContextHome { case threadState, greenlet, otherThread }

    private static func contextHome(_ state: UnsafeMutablePointer<GreenletState>) -> ContextHome {
        guard state.pointee.stack.isActive, let owner = state.owningThread,
              owner.pointee.current == state.pointee.object else { return .greenlet }
        return owner == ThreadState.currentIfCreated ? .threadState : .otherThread
    }

    static let getContext: getter = { object, _ in
        withCriticalSection(object!) {
            let state = object!.asGreenlet.state
            let context: PyRef?
            switch contextHome(state) {
            case .threadState: context = currentThreadState().pointee.context
            case .greenlet: context = state.pointee.python.context
            case .otherThread:
                return setError(PyExc_ValueError, "cannot get context of a greenlet that is running in a different thread")
            }
            return context?.newReference() ?? newNone()
        }
    }

    static let setContext: setter = { object, value, _ in
        withCriticalSection(object!) {
            let state = object!.asGreenlet.state
            guard let value else {
                setError(PyExc_AttributeError, "can't delete context attribute")
                return -1
            }
            let context: PyRef? = value.isNone ? nil : value
            if let context, gl_is_context(context) == 0 {
                setError(PyExc_TypeError, "greenlet context must be a contextvars.Context or None")
                return -1
            }
            switch contextHome(state) {
            case .threadState:
                let ts = currentThreadState()
                let old = ts.pointee.context
                ts.pointee.context = context?.newReference()
                ts.pointee.context_ver &+= 1
                release(old)
            case .greenlet:
                let old = state.pointee.python.context
                state.pointee.python.context = context?.newReference()
                release(old)
            case .otherThread:
                setError(PyExc_ValueError, "cannot set context of a greenlet that is running in a different thread")
                return -1
            }
            return 0
        }
    }

    static let getDead: getter = { object, _ in
        withCriticalSection(object!) {
            (object!.asGreenlet.state.isDead ? gl_true() : gl_false()).newReference()
        }
    }


    static let getDict: getter = { object, _ in
        withCriticalSection(object!) {
            let greenlet = object!.asGreenlet
            if greenlet.pointee.dict == nil {
                greenlet.pointee.dict = PyDict_New()
                if greenlet.pointee.dict == nil { return nil }
            }
            return greenlet.pointee.dict!.newReference()
        }
    }

    static let setDict: setter = { object, value, _ in
        withCriticalSection(object!) {
            let greenlet = object!.asGreenlet
            guard let value else {
                setError(PyExc_TypeError, "__dict__ may not be deleted")
                return -1
            }
            guard gl_is_dict(value) != 0 else {
                setError(PyExc_TypeError, "__dict__ must be a dictionary")
                return -1
            }
            let old = greenlet.pointee.dict
            greenlet.pointee.dict = value.newReference()
            release(old)
            return 0
        }
    }

    static let getStackSaved: getter = { object, _ in
        PyLong_FromSsize_t(object!.asGreenlet.state.pointee.stack.savedBytes)
    }
}
