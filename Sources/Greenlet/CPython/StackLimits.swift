import CPythonShim
import StackEngine

/// A thread's own C stack limits, saved while a greenlet on a dedicated stack runs with
/// limits of its own. Nothing before 3.14, which checks C recursion by a counter.
struct ThreadStackLimits {
    #if PY_GE_3_14
    var saved = GLStackLimits()
    /// Whether `saved` holds the thread's limits, and the thread state another stack's.
    var moved = false
    #endif
}

#if PY_GE_3_14
/// From 3.14 CPython checks C recursion by the stack pointer, against limits it measured from
/// the thread's stack (`c_stack_top`, `c_stack_soft_limit`, `c_stack_hard_limit`). Greenlets
/// on the thread's stack share those. A greenlet on a dedicated stack runs elsewhere, where
/// they mean nothing (far below them, CPython skips the check altogether, gh-139653): it gets
/// the limits CPython would give a thread with that stack, and the thread's own come back
/// when a greenlet on the thread's stack runs again. Set fields, not
/// `PyUnstable_ThreadState_SetStackProtection`, which early 3.14 releases lack.
enum StackLimits {
    /// Runs as `state`'s greenlet gains control, if it or the one before it is dedicated.
    @inline(__always)
    static func needInstall(_ state: UnsafeMutablePointer<GreenletState>, on thread: UnsafeMutablePointer<ThreadState>) -> Bool {
        state.pointee.stack.isDedicated || thread.pointee.stackLimits.moved
    }

    static func install(for state: UnsafeMutablePointer<GreenletState>, on thread: UnsafeMutablePointer<ThreadState>,
                        into ts: PyThreadStateRef) {
        if let stack = state.pointee.stack.dedicatedStack {
            if !thread.pointee.stackLimits.moved {
                gl_stack_limits_get(ts, thread.pointer(to: \.stackLimits.saved)!)
                thread.pointee.stackLimits.moved = true
            }
            var limits = GLStackLimits()
            gl_stack_limits_for(UInt(bitPattern: stack.base), UInt(bitPattern: stack.top), &limits)
            gl_stack_limits_set(ts, &limits)
        } else if thread.pointee.stackLimits.moved {
            gl_stack_limits_set(ts, thread.pointer(to: \.stackLimits.saved)!)
            thread.pointee.stackLimits.moved = false
        }
    }
}
#else
/// Before 3.14 the C recursion budget of a dedicated stack is set once, at its start
/// (`RecursionDepth.prepareStart`): nothing to do at a switch.
enum StackLimits {
    @inline(__always)
    static func needInstall(_ state: UnsafeMutablePointer<GreenletState>, on thread: UnsafeMutablePointer<ThreadState>) -> Bool {
        false
    }

    static func install(for state: UnsafeMutablePointer<GreenletState>, on thread: UnsafeMutablePointer<ThreadState>,
                        into ts: PyThreadStateRef) {}
}
#endif
