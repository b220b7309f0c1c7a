import CPythonShim
import StackEngine

/// Which stack new greenlets run on (`greenlet.set_stack_mode`).
///
/// - `copying`, the default and upstream's way: a band of the thread's stack, whose bytes
///   are copied to the heap and back as other greenlets need the memory. A suspended
///   greenlet holds only the bytes it used; a switch costs as much as the stack that lies
///   between the two greenlets.
/// - `dedicated`: a stack of the greenlet's own, mapped with a guard page. A switch moves
///   registers only, at any depth. Each live one costs two of the process's memory mappings
///   and its size in address space (not in memory: only what it touched is resident), and
///   its depth is bounded by its size.
///
/// The choice is per thread and applies to the greenlets it creates afterwards. Threads that
/// made none use the process default, which `GREENLET_STACK_MODE` (`copying` or `dedicated`)
/// and `GREENLET_STACK_SIZE` (bytes, or with a `k` or `m` suffix) set at import, so that an
/// application can change mode without changing its code.
enum StackMode {
    /// The dedicated stack size of new greenlets in threads that chose nothing; 0: copying.
    nonisolated(unsafe) private(set) static var processDefault = 0

    /// Reads the environment at import. False, with `ValueError` set, for a value that is not
    /// understood: a mode silently ignored would be worse than an import that fails.
    static func readEnvironment() -> Bool {
        var size = DedicatedStack.defaultSize
        if let raw = gl_getenv("GREENLET_STACK_SIZE"), raw.pointee != 0 {
            guard let bytes = parseSize(String(cString: raw)), let normalized = DedicatedStack.normalizedSize(bytes) else {
                setError(PyExc_ValueError, format: "GREENLET_STACK_SIZE must be a size from %zd to %zd bytes (a k or m suffix is allowed), not '%s'",
                         DedicatedStack.minimumSize, DedicatedStack.maximumSize, raw)
                return false
            }
            size = normalized
        }
        guard let raw = gl_getenv("GREENLET_STACK_MODE") else { return true }
        switch String(cString: raw) {
        case "", "copying": processDefault = 0
        case "dedicated": processDefault = size
        default:
            setError(PyExc_ValueError, format: "GREENLET_STACK_MODE must be 'copying' or 'dedicated', not '%s'", raw)
            return false
        }
        return true
    }

    /// "65536", "512k", "1m" (and upper case): a byte count, or nil.
    private static func parseSize(_ text: String) -> Int? {
        var digits = Substring(text)
        var scale = 1
        switch digits.last {
        case "k", "K": scale = 1024; digits = digits.dropLast()
        case "m", "M": scale = 1024 * 1024; digits = digits.dropLast()
        default: break
        }
        guard let value = Int(digits), value >= 0 else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        return overflow ? nil : bytes
    }

    /// What `tp_new` gives a new greenlet of `thread`.
    @inline(__always)
    static func prepare(_ state: UnsafeMutablePointer<GreenletState>, on thread: UnsafeMutablePointer<ThreadState>) {
        let size = thread.pointee.newGreenletStackSize
        if size != 0 { state.pointee.stack.requestDedicatedStack(size: size) }
    }

    // MARK: The module functions

    static let setStackMode: PyCFunctionWithKeywords = { _, args, kwargs in
        var modeObject: PyRef? = nil
        var sizeObject: PyRef? = nil
        guard gl_parse_stack_mode_args(args, kwargs, &modeObject, &sizeObject) != 0, let modeObject else { return nil }
        let thread = ThreadState.current()
        if PyUnicode_CompareWithASCIIString(modeObject, "copying") == 0 {
            if let sizeObject, !sizeObject.isNone {
                return setError(PyExc_ValueError, "stack_size applies to the 'dedicated' mode only")
            }
            thread.pointee.newGreenletStackSize = 0
            return newNone()
        }
        guard PyUnicode_CompareWithASCIIString(modeObject, "dedicated") == 0 else {
            return setError(PyExc_ValueError, format: "stack mode must be 'copying' or 'dedicated', not %R", modeObject)
        }
        var size = processDefault != 0 ? processDefault : DedicatedStack.defaultSize
        if let sizeObject, !sizeObject.isNone {
            guard gl_is_int(sizeObject) != 0 else {
                return setError(PyExc_TypeError, format: "stack_size must be an int, not %s", sizeObject.type.pointee.tp_name ?? cString("?"))
            }
            let requested = PyLong_AsSsize_t(sizeObject)
            if requested == -1, PyErr_Occurred() != nil {
                PyErr_Clear()
                return setError(PyExc_ValueError, format: "stack_size must be from %zd to %zd bytes",
                                DedicatedStack.minimumSize, DedicatedStack.maximumSize)
            }
            guard let normalized = DedicatedStack.normalizedSize(requested) else {
                return setError(PyExc_ValueError, format: "stack_size must be from %zd to %zd bytes, not %zd",
                                DedicatedStack.minimumSize, DedicatedStack.maximumSize, requested)
            }
            size = normalized
        }
        thread.pointee.newGreenletStackSize = size
        return newNone()
    }

    static let getStackMode: PyCFunction = { _, _ in
        let size = ThreadState.current().pointee.newGreenletStackSize
        return PyUnicode_FromString(size == 0 ? "copying" : "dedicated")
    }

    /// `_dedicated_stacks(limit=None)`: (mapped, limit) for the process, after setting the
    /// limit if one is given. For tests.
    static let dedicatedStacks: PyCFunctionWithKeywords = { _, args, kwargs in
        var limitObject: PyRef? = nil
        guard gl_parse_optional_arg(args, kwargs, "|O:_dedicated_stacks", "limit", &limitObject) != 0 else { return nil }
        if let limitObject, !limitObject.isNone {
            let limit = PyLong_AsSsize_t(limitObject)
            if limit == -1, PyErr_Occurred() != nil { return nil }
            guard limit >= 0 else { return setError(PyExc_ValueError, "limit must not be negative") }
            DedicatedStack.limit = limit
        }
        return gl_build_pair(DedicatedStack.mappedCount, DedicatedStack.limit)
    }

    static var methods: [PyMethodDef] {
        [
            PyMethodDef(ml_name: cString("_dedicated_stacks"),
                        ml_meth: unsafeBitCast(dedicatedStacks, to: PyCFunction.self),
                        ml_flags: METH_VARARGS | METH_KEYWORDS,
                        ml_doc: cString("_dedicated_stacks(limit=None) -> (mapped, limit)\n\nDedicated stacks mapped in the process, and how many may be; sets the limit first if given. Testing only.\n")),
            PyMethodDef(ml_name: cString("set_stack_mode"),
                        ml_meth: unsafeBitCast(setStackMode, to: PyCFunction.self),
                        ml_flags: METH_VARARGS | METH_KEYWORDS,
                        ml_doc: cString("""
                            set_stack_mode(mode, stack_size=None)

                            Chooses the stack of the greenlets this thread creates from now on:
                            'copying' (slices of the thread's stack, copied on switches; the
                            default) or 'dedicated' (a stack of their own, of stack_size bytes,
                            switched without copying). GREENLET_STACK_MODE and
                            GREENLET_STACK_SIZE set the default at import.
                            """)),
            PyMethodDef(ml_name: cString("get_stack_mode"), ml_meth: getStackMode, ml_flags: METH_NOARGS,
                        ml_doc: cString("""
                            get_stack_mode() -> str

                            'copying' or 'dedicated': the stack of the greenlets this thread
                            creates from now on.
                            """)),
        ]
    }
}
