import CPythonShim

/// Fills in the static `greenlet.greenlet` type. Its object head lives in C (see shim.c);
/// its tables are allocated once and live as long as the process.
enum GreenletType {
    static func prepare() -> Bool {
        let type = greenletType
        type.pointee.tp_name = cString("greenlet.greenlet")
        type.pointee.tp_doc = cString("""
            greenlet(run=None, parent=None) -> greenlet

            Creates a new greenlet object (without running it).

             - *run* -- The callable to invoke.
             - *parent* -- The parent greenlet. The default is the current greenlet.
            """)
        type.pointee.tp_basicsize = MemoryLayout<GreenletObject>.size
        type.pointee.tp_flags = GL_TPFLAGS_GREENLET
        type.pointee.tp_new = Lifecycle.new
        type.pointee.tp_init = Methods.initialize
        type.pointee.tp_dealloc = Lifecycle.dealloc
        type.pointee.tp_traverse = Lifecycle.traverse
        type.pointee.tp_clear = Lifecycle.clear
        installCollectorSlots(type)
        type.pointee.tp_repr = Methods.repr
        type.pointee.tp_alloc = PyType_GenericAlloc
        type.pointee.tp_free = PyObject_GC_Del
        type.pointee.tp_weaklistoffset = MemoryLayout<GreenletObject>.offset(of: \GreenletObject.weakreflist)!
        type.pointee.tp_dictoffset = MemoryLayout<GreenletObject>.offset(of: \GreenletObject.dict)!

        let number = UnsafeMutablePointer<PyNumberMethods>.allocate(capacity: 1)
        number.initialize(to: PyNumberMethods())
        number.pointee.nb_bool = Methods.bool
        type.pointee.tp_as_number = number

        type.pointee.tp_methods = staticTable([
            PyMethodDef(ml_name: cString("switch"), ml_meth: unsafeBitCast(Methods.switchMethod, to: PyCFunction.self),
                        ml_flags: GL_METH_FASTCALL_KEYWORDS, ml_doc: cString("""
                            switch(*args, **kwargs)

                            Switch execution to this greenlet. If it has never run, it starts with \
                            self.run(*args, **kwargs); if it is suspended, its own switch() call \
                            returns the arguments. A dead greenlet passes the switch to its parent.
                            """)),
            PyMethodDef(ml_name: cString("throw"), ml_meth: Methods.throwMethod, ml_flags: METH_VARARGS,
                        ml_doc: cString("""
                            throw(typ[,val[,tb]]) -> raise exception in greenlet, return value passed \
                            when switching back
                            """)),
            PyMethodDef(ml_name: cString("__getstate__"), ml_meth: Methods.getState, ml_flags: METH_NOARGS, ml_doc: nil),
            PyMethodDef(),
        ])
        type.pointee.tp_getset = staticTable([
            PyGetSetDef(name: cString("__dict__"), get: Attributes.getDict, set: Attributes.setDict, doc: nil, closure: nil),
            PyGetSetDef(name: cString("run"), get: Attributes.getRun, set: Attributes.setRun, doc: nil, closure: nil),
            PyGetSetDef(name: cString("parent"), get: Attributes.getParent, set: Attributes.setParent, doc: nil, closure: nil),
            PyGetSetDef(name: cString("gr_frame"), get: Attributes.getFrame, set: nil, doc: nil, closure: nil),
            PyGetSetDef(name: cString("gr_context"), get: Attributes.getContext, set: Attributes.setContext, doc: nil, closure: nil),
            PyGetSetDef(name: cString("dead"), get: Attributes.getDead, set: nil, doc: nil, closure: nil),
            PyGetSetDef(name: cString("_stack_saved"), get: Attributes.getStackSaved, set: nil, doc: nil, closure: nil),
        ] + Statistics.getSetDefinitions + [PyGetSetDef()])
        return PyType_Ready(type) == 0
    }

    /// How the collector treats greenlets: a suspended one in garbage is killed by its
    /// finalizer before anything is cleared (see `traverseSuspendedFrames`).
    static func installCollectorSlots(_ type: UnsafeMutablePointer<PyTypeObject>) {
        type.pointee.tp_finalize = Lifecycle.finalize
    }

}
