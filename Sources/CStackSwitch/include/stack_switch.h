// The register switch: the one piece of the stack engine that cannot be written in Swift.
#ifndef GREENLET_STACK_SWITCH_H
#define GREENLET_STACK_SWITCH_H

#ifdef __cplusplus
extern "C" {
#endif

/// Called with the stack pointer after the callee-saved registers are pushed. Copies whatever
/// must survive to the heap and returns the stack pointer to continue on, or NULL to stay on
/// this stack (a coroutine being started, or a failed save).
typedef void *_Nullable (*greenlet_save_fn)(void *_Nullable context, void *_Nonnull stack_pointer);

/// Called on the new stack pointer, before any register is popped: copies the target's saved
/// bytes back into place. Its own frame lies below the restored band.
typedef void (*greenlet_restore_fn)(void *_Nullable context);

/// Pushes the callee-saved registers and FPU control words, calls `save`, moves the stack
/// pointer to what it returned, calls `restore`, pops and returns.
/// Returns 0 when execution continues on a restored stack, 1 when `save` returned NULL.
int greenlet_switch_stack(void *_Nullable context, greenlet_save_fn _Nonnull save,
                          greenlet_restore_fn _Nonnull restore);

/// The caller's stack pointer at the call: every frame the caller calls afterwards lies
/// strictly below it.
void *_Nonnull greenlet_caller_stack_pointer(void);

#ifdef __cplusplus
}
#endif
#endif
