import CPythonShim

/// Opt-in `contextvars` inheritance (`greenlet.set_context_inheritance(True)`), process-wide.
///
/// Upstream starts every greenlet in an empty context unless `gr_context` is set. With this on,
/// a new greenlet gets a copy of the context current where it was created, as an asyncio
/// task does; setting `gr_context` afterwards still replaces it.
enum ContextInheritance {
    nonisolated(unsafe) private(set) static var isOn = false

    static func set(_ on: Bool) { isOn = on }

    /// Gives a greenlet being created a copy of the current context. False with an exception
    /// set if the copy could not be made.
    static func capture(into state: UnsafeMutablePointer<GreenletState>) -> Bool {
        guard let copy = PyContext_CopyCurrent() else { return false }
        release(state.pointee.python.context)
        state.pointee.python.context = copy
        return true
    }
}
