import CPythonShim
import StackEngine

/// Fills the table of offsets that readers outside the process use to find greenlets
/// (`GreenletDebugOffsets` in greenlet.h; `python -m greenlet.dump` is one such reader).
///
/// The layouts are Swift's, known only to the compiler, so the table is filled at import
/// from `MemoryLayout`, and readers take it from the process's memory.
enum DebugOffsets {
    static func fill() {
        let table: UnsafeMutablePointer<GreenletDebugOffsets> = gl_debug_offsets()
        table.pointee.live_threads = UInt64(UInt(bitPattern: UnsafeMutableRawPointer(gl_live_threads_root())))

        table.pointee.thread_state.size = UInt64(MemoryLayout<ThreadState>.size)
        table.pointee.thread_state.thread_id = offset(\ThreadState.threadID)
        table.pointee.thread_state.next = offset(\ThreadState.nextThread)
        table.pointee.thread_state.main = offset(\ThreadState.main)
        table.pointee.thread_state.current = offset(\ThreadState.current)
        table.pointee.thread_state.registry_first = offset(\ThreadState.registry) + offset(\GreenletRegistry.first)
        table.pointee.thread_state.registry_count = offset(\ThreadState.registry) + offset(\GreenletRegistry.count)

        table.pointee.greenlet_state.size = UInt64(MemoryLayout<GreenletState>.size)
        table.pointee.greenlet_state.object = offset(\GreenletState.object)
        table.pointee.greenlet_state.registry_next = offset(\GreenletState.registryLink) + offset(\RegistryLink.next)
        table.pointee.greenlet_state.parent = offset(\GreenletState.parent)
        let stack = offset(\GreenletState.stack)
        table.pointee.greenlet_state.stack_start = stack + offset(\StackSlice.start)
        table.pointee.greenlet_state.stack_stop = stack + offset(\StackSlice.stop)
        table.pointee.greenlet_state.saved_bytes = stack + offset(\StackSlice.savedBytes)
        table.pointee.greenlet_state.is_main = offset(\GreenletState.isMain)
        table.pointee.greenlet_state.switches = offset(\GreenletState.switches)
        table.pointee.greenlet_state.top_frame = offset(\GreenletState.python) + PythonState.topFrameOffset
        table.pointee.greenlet_state.frame_kind = PythonState.topFrameKind
        table.pointee.greenlet_pimpl = UInt64(MemoryLayout<GreenletObject>.offset(of: \GreenletObject.pimpl)!)
    }

    private static func offset<Root, Value>(_ path: KeyPath<Root, Value>) -> UInt64 {
        guard let offset = MemoryLayout<Root>.offset(of: path) else {
            preconditionFailure("the offsets table names a field that is not stored inline")
        }
        return UInt64(offset)
    }
}
