import CPythonShim

/// A CPython object pointer. Ownership is tracked by the code, as in C: these are never
/// retained by Swift, so none of this costs ARC traffic.
typealias PyRef = UnsafeMutablePointer<PyObject>
typealias GreenletRef = UnsafeMutablePointer<GreenletObject>

extension UnsafeMutablePointer where Pointee == PyObject {
    @inline(__always) var asGreenlet: GreenletRef { UnsafeMutableRawPointer(self).assumingMemoryBound(to: GreenletObject.self) }
    @inline(__always) var type: UnsafeMutablePointer<PyTypeObject> { gl_type(self) }
    @inline(__always) var isGreenlet: Bool { gl_type(self) == greenletType || gl_type_check(self, greenletType) != 0 }
    @inline(__always) var isNone: Bool { self == gl_none() }
    @inline(__always) func incref() { gl_incref(self) }
    @inline(__always) func decref() { gl_decref(self) }
    /// Returns self with one more reference, for handing out.
    @inline(__always) func newReference() -> PyRef { gl_incref(self); return self }
}

extension UnsafeMutablePointer where Pointee == GreenletObject {
    @inline(__always) var object: PyRef { UnsafeMutableRawPointer(self).assumingMemoryBound(to: PyObject.self) }
    /// The implementation state behind `pimpl`.
    @inline(__always) var state: UnsafeMutablePointer<GreenletState> {
        assert(pointee.pimpl != nil, "a greenlet without its state (being deallocated?)")
        return pointee.pimpl.unsafelyUnwrapped.assumingMemoryBound(to: GreenletState.self)
    }
}

/// Drops a reference that may be absent.
@inline(__always) func release(_ object: PyRef?) { if let object { gl_decref(object) } }

/// `None`, as a new reference.
@inline(__always) func newNone() -> PyRef { gl_none().newReference() }

/// A C string that lives as long as the process, for CPython's static tables.
@inline(__always) func cString(_ text: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// A C array that is never freed, for CPython's static tables (methods, getters and setters).
func staticTable<Entry>(_ entries: [Entry]) -> UnsafeMutablePointer<Entry> {
    let storage = UnsafeMutablePointer<Entry>.allocate(capacity: entries.count)
    storage.initialize(from: entries, count: entries.count)
    return storage
}

/// Sets a Python exception and returns nil, the error convention of the C API.
@discardableResult
func setError(_ type: PyRef?, _ message: StaticString) -> PyRef? {
    PyErr_SetString(type, cString(message))
    return nil
}

/// Sets a Python exception with a `PyUnicode_FromFormat` message and returns nil. The
/// arguments must match the format's conversions (`%s`: a C string, `%R`: an object).
@discardableResult
func setError(_ type: PyRef?, format: StaticString, _ arguments: CVarArg...) -> PyRef? {
    _ = withVaList(arguments) { PyErr_FormatV(type, cString(format), $0) }
    return nil
}

var greenletType: UnsafeMutablePointer<PyTypeObject> {
    @inline(__always) get { gl_greenlet_type() }
}

/// Runs `body` inside a critical section on `object`: its per-object lock where there is no
/// GIL, nothing where there is. Attribute accessors that read or replace a greenlet's
/// references use it, as CPython's own objects do, so that two threads never swap the same
/// reference at once. The section's node lives at a fixed address on this C stack, where
/// CPython links it into the thread state; a switch inside `body` suspends it.
@inline(__always)
func withCriticalSection<R>(_ object: PyRef, _ body: () -> R) -> R {
    withUnsafeTemporaryAllocation(of: GLCriticalSection.self, capacity: 1) { section in
        let node = section.baseAddress!
        gl_critical_section_begin(node, object)
        defer { gl_critical_section_end(node) }
        return body()
    }
}
