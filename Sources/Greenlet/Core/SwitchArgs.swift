import CPythonShim

/// What a switch carries to the greenlet that gains control. Owned references; all nil means
/// the switch carries the exception that is set in the thread instead.
struct SwitchArgs {
    /// One positional argument and no keywords: the common case, carried without a tuple.
    var single: PyRef?
    /// The positional arguments, when not `single` (a tuple).
    var args: PyRef?
    /// The keyword arguments, or nil (a dict).
    var kwargs: PyRef?

    init() {}
    init(single: PyRef) { self.single = single }
    init(args: PyRef?, kwargs: PyRef?) {
        self.args = args
        self.kwargs = kwargs
    }

    var carriesException: Bool { single == nil && args == nil && kwargs == nil }

    func drop() {
        release(single)
        release(args)
        release(kwargs)
    }

    /// What `switch()` returns on the receiving side (a new reference; consumes self):
    /// a lone argument as itself, otherwise the args tuple, the kwargs dict when there are no
    /// positional arguments, or `(args, kwargs)` when there are both.
    func result() -> PyRef? {
        if let single { return single }
        guard !carriesException else { return nil }
        let positional = args ?? ModuleGlobals.emptyTuple!.newReference()
        if let kwargs {
            if PyDict_Size(kwargs) == 0 {
                kwargs.decref()
            } else if PyObject_Length(positional) == 0 {
                positional.decref()
                return kwargs
            } else {
                guard let pair = PyTuple_New(2) else {
                    positional.decref()
                    kwargs.decref()
                    return nil
                }
                gl_tuple_set(pair, 0, positional)
                gl_tuple_set(pair, 1, kwargs)
                return pair
            }
        }
        return unwrapSingle(positional)
    }

    /// The arguments for `run(*args, **kwargs)` (new references; consumes self).
    func callArguments() -> (args: PyRef?, kwargs: PyRef?) {
        if let single {
            let tuple = PyTuple_New(1)
            if let tuple { gl_tuple_set(tuple, 0, single) } else { single.decref() }
            return (tuple, nil)
        }
        return (args ?? ModuleGlobals.emptyTuple!.newReference(), kwargs)
    }
}

/// A one-element tuple becomes its element (consumes `value`).
@inline(__always)
func unwrapSingle(_ value: PyRef) -> PyRef {
    if gl_is_tuple(value) != 0 && gl_tuple_size(value) == 1 {
        let item = gl_tuple_item(value, 0).newReference()
        value.decref()
        return item
    }
    return value
}

extension UnsafeMutablePointer where Pointee == SwitchArgs {
    /// Takes what is carried, leaving nothing behind.
    @inline(__always) func take() -> SwitchArgs {
        let carried = pointee
        pointee = SwitchArgs()
        return carried
    }
}
