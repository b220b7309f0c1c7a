// The register switch: the one piece of the stack engine that cannot be written in Swift.
#ifndef GREENLET_STACK_SWITCH_H
#define GREENLET_STACK_SWITCH_H

#include <stddef.h>

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

/// AddressSanitizer builds (GREENLET_SANITIZE=address defines GREENLET_SANITIZE_ADDRESS).
/// ASan is told of each switch with the bounds of the stack the target runs on (the fiber
/// annotations): the thread's own, shared by copying coroutines, or a dedicated one. Frames
/// that stop without returning leave their redzones poisoned, so the engine clears the shadow
/// of the bytes a switch copies out or back in (frames suspended, or memory other frames used
/// meanwhile) and of a finished coroutine's band. In other builds these are empty and vanish when inlined.
#if defined(GREENLET_SANITIZE_ADDRESS)
#include <pthread.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
// glibc declares it only under _GNU_SOURCE, which a module header cannot count on.
extern int pthread_getattr_np(pthread_t thread, pthread_attr_t *attr);

static inline void greenlet_asan_thread_stack(const void *_Nullable *_Nonnull bottom, size_t *_Nonnull size) {
    static __thread const void *cached_bottom;
    static __thread size_t cached_size;
    if (cached_size == 0) {
        pthread_attr_t attr;
        void *address = 0;
        size_t bytes = 0;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &address, &bytes);
            pthread_attr_destroy(&attr);
        }
        cached_bottom = address;
        cached_size = bytes;
    }
    *bottom = cached_bottom;
    *size = cached_size;
}

/// Before a switch to a coroutine on the dedicated stack `[base, base + size)`, or on the
/// thread's own stack when `base` is NULL.
static inline void *_Nullable greenlet_asan_will_switch(void *_Nullable base, size_t size) {
    void *fake_stack = 0;
    const void *bottom = base;
    if (!bottom) greenlet_asan_thread_stack(&bottom, &size);
    __sanitizer_start_switch_fiber(&fake_stack, bottom, size);
    return fake_stack;
}

static inline void greenlet_asan_did_switch(void *_Nullable fake_stack) {
    __sanitizer_finish_switch_fiber(fake_stack, 0, 0);
}

static inline void greenlet_asan_unpoison(void *_Nonnull address, size_t size) {
    __asan_unpoison_memory_region(address, size);
}

/// Clears the redzones of frames in `[low, high)` that will never return: a finished
/// coroutine's. Left poisoned, they would trip whatever runs on that memory next.
static inline void greenlet_asan_forget_frames(void *_Nonnull low, void *_Nullable high) {
    if (high && (char *)high > (char *)low)
        __asan_unpoison_memory_region(low, (size_t)((char *)high - (char *)low));
}
#else
static inline void *_Nullable greenlet_asan_will_switch(void *_Nullable base, size_t size) { (void)base; (void)size; return 0; }
static inline void greenlet_asan_did_switch(void *_Nullable fake_stack) { (void)fake_stack; }
static inline void greenlet_asan_unpoison(void *_Nonnull address, size_t size) { (void)address; (void)size; }
static inline void greenlet_asan_forget_frames(void *_Nonnull low, void *_Nullable high) { (void)low; (void)high; }
#endif

#ifdef __cplusplus
}
#endif
#endif
