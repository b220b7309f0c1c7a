// Memory for dedicated stacks: mappings with a guard page, which Swift reaches only through a
// C library import that the stack engine must not make (its clients import CPython's headers,
// whose feature macros give libc types other layouts).
#ifndef GREENLET_STACK_MEMORY_H
#define GREENLET_STACK_MEMORY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The system's page size.
size_t greenlet_page_size(void);

/// Maps `size` bytes of stack (a multiple of the page size) with one inaccessible guard page
/// below, and returns the lowest usable address, or NULL when the system refuses (out of
/// memory) or the stack limit is reached. Each stack takes two of the process's
/// `vm.max_map_count` mappings, which the rest of the process needs too.
void *_Nullable greenlet_stack_map(size_t size);

/// How many stacks may be mapped at once in the process: by default, half of what is left of
/// `vm.max_map_count` after a quarter of it (at least 8192) is set aside for everything else.
size_t greenlet_stack_limit(void);
void greenlet_stack_set_limit(size_t limit);
/// Stacks mapped now, in use or kept for reuse, by every thread.
size_t greenlet_stacks_mapped(void);

/// Unmaps a stack from `greenlet_stack_map`, guard page included.
void greenlet_stack_unmap(void *_Nonnull base, size_t size);

/// Gives the pages of `[address, address + size)` back to the system; they read as zero when
/// touched again. Both ends are page-aligned.
void greenlet_stack_discard(void *_Nonnull address, size_t size);

#ifdef __cplusplus
}
#endif
#endif
