import CPythonShim

/// A `gc.callbacks` entry that runs, when a collection is over, the kills that waited for it
/// in this thread: those of suspended greenlets the collector found in garbage, and of any
/// whose last reference went while it ran (see `canKillNow`).
///
/// The callbacks run after the collector has let go of its lists and before it lets another
/// collection start, in the thread that collected: the first moment a switch is safe. Without
/// it the kills would wait for this thread's next greenlet call, which a program that only
/// drops greenlets may never make.
enum CollectorCallback {
    private static let definition = staticTable([
        PyMethodDef(ml_name: cString("_greenlet_collection_callback"), ml_meth: onCollection,
                    ml_flags: METH_VARARGS,
                    ml_doc: cString("Runs the kills of suspended greenlets that a collection found in garbage.")),
    ])

    /// `callback(phase, info)`: on "start", notes the greenlet the collection runs in; on
    /// "stop", drains this thread's kill queue.
    private static let onCollection: PyCFunction = { _, args in
        if let args, gl_tuple_size(args) >= 1, let phase = PyUnicode_AsUTF8(gl_tuple_item(args, 0)),
           let thread = ThreadState.currentIfCreated {
            if strcmp(phase, "start") == 0 {
                thread.pointee.collectingIn = thread.pointee.current
            } else if strcmp(phase, "stop") == 0 {
                thread.pointee.collectingIn = nil
                thread.pointee.collectionIsOver = true
                thread.runPendingKills()
                thread.pointee.collectionIsOver = false
            }
        }
        PyErr_Clear()
        return gl_none().newReference()
    }

    /// Appends the callback to `gc.callbacks`; false, with the exception set, if it could not.
    static func install() -> Bool {
        guard let callback = PyCFunction_NewEx(definition, nil, nil) else { return false }
        defer { callback.decref() }
        guard let gc = PyImport_ImportModule("gc") else { return false }
        defer { gc.decref() }
        guard let callbacks = PyObject_GetAttrString(gc, "callbacks") else { return false }
        defer { callbacks.decref() }
        return PyList_Append(callbacks, callback) == 0
    }
}
