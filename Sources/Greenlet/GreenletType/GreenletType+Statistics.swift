import CPythonShim

/// The greenlet's statistics, read-only: `gr_switches`, `gr_stack_saved_max`,
/// `gr_bytes_copied` (always counted), `gr_stack_size`, and `gr_run_ns` (counted while
/// accounting is on).
///
/// A greenlet of another thread that is running may change them while they are read; on a
/// free-threaded build the value read is then a recent one.
enum Statistics {
    static let getSwitches: getter = { object, _ in
        PyLong_FromSsize_t(object!.asGreenlet.state.pointee.switches)
    }

    static let getStackSavedMax: getter = { object, _ in
        PyLong_FromSsize_t(object!.asGreenlet.state.pointee.stack.savedMax)
    }

    static let getBytesCopied: getter = { object, _ in
        PyLong_FromSsize_t(object!.asGreenlet.state.pointee.stack.bytesCopied)
    }

    static let getStackSize: getter = { object, _ in
        PyLong_FromSsize_t(object!.asGreenlet.state.pointee.stack.stackSize)
    }

    static let getRunNanoseconds: getter = { object, _ in
        PyLong_FromSsize_t(Accounting.runNanoseconds(of: object!.asGreenlet))
    }

    static var getSetDefinitions: [PyGetSetDef] {
        [
            PyGetSetDef(name: cString("gr_switches"), get: getSwitches, set: nil,
                        doc: cString("How many times this greenlet was switched into."), closure: nil),
            PyGetSetDef(name: cString("gr_stack_saved_max"), get: getStackSavedMax, set: nil,
                        doc: cString("The most bytes of this greenlet's C stack held on the heap at once."),
                        closure: nil),
            PyGetSetDef(name: cString("gr_bytes_copied"), get: getBytesCopied, set: nil,
                        doc: cString("Bytes of C stack copied to and from the heap for this greenlet's switches."),
                        closure: nil),
            PyGetSetDef(name: cString("gr_stack_size"), get: getStackSize, set: nil,
                        doc: cString("Bytes of this greenlet's dedicated stack; 0 if it runs on its thread's stack."),
                        closure: nil),
            PyGetSetDef(name: cString("gr_run_ns"), get: getRunNanoseconds, set: nil,
                        doc: cString("Nanoseconds this greenlet ran while greenlet.set_accounting(True) was on."),
                        closure: nil),
        ]
    }
}
