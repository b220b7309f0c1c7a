// Dedicated stacks: anonymous private mappings, never reserved against swap, with a guard page.
#include "stack_memory.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static void *map_with_guard(size_t size);

#ifndef MAP_STACK
#define MAP_STACK 0
#endif
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

size_t greenlet_page_size(void) {
    static size_t page;
    if (page == 0) {
        long value = sysconf(_SC_PAGESIZE);
        page = value > 0 ? (size_t)value : 4096;
    }
    return page;
}

/* Mappings are a per-process budget (vm.max_map_count, 65530 by default), and everything
   else in the process needs some too: malloc, Python's arenas, every shared library. Past
   the budget, mmap fails, and so may the next malloc anywhere. So stacks may take only part
   of it: half of what is left after a quarter (at least 8192) is set aside. */
static atomic_size_t stacks_mapped;
static atomic_size_t stack_limit;

static size_t default_stack_limit(void) {
    size_t max_maps = 65530;
    FILE *file = fopen("/proc/sys/vm/max_map_count", "r");
    if (file) {
        unsigned long value;
        if (fscanf(file, "%lu", &value) == 1 && value > 0) max_maps = value;
        fclose(file);
    }
    size_t reserve = max_maps / 4 > 8192 ? max_maps / 4 : 8192;
    return max_maps > reserve ? (max_maps - reserve) / 2 : 0;
}

size_t greenlet_stack_limit(void) {
    size_t limit = atomic_load_explicit(&stack_limit, memory_order_relaxed);
    if (limit == 0) {
        limit = default_stack_limit() + 1;  /* stored plus one: 0 means not read yet */
        atomic_store_explicit(&stack_limit, limit, memory_order_relaxed);
    }
    return limit - 1;
}

void greenlet_stack_set_limit(size_t limit) {
    atomic_store_explicit(&stack_limit, limit + 1, memory_order_relaxed);
}

size_t greenlet_stacks_mapped(void) {
    return atomic_load_explicit(&stacks_mapped, memory_order_relaxed);
}

void *greenlet_stack_map(size_t size) {
    size_t limit = greenlet_stack_limit();
    if (atomic_fetch_add_explicit(&stacks_mapped, 1, memory_order_relaxed) >= limit) {
        atomic_fetch_sub_explicit(&stacks_mapped, 1, memory_order_relaxed);
        return NULL;
    }
    void *base = map_with_guard(size);
    if (!base) atomic_fetch_sub_explicit(&stacks_mapped, 1, memory_order_relaxed);
    return base;
}

static void *map_with_guard(size_t size) {
    size_t guard = greenlet_page_size();
    // Only the usable part is made accessible, so the guard page stays PROT_NONE: a stack
    // that overflows faults there instead of writing into whatever is mapped below.
    char *low = mmap(NULL, size + guard, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (low == MAP_FAILED) return NULL;
    if (mprotect(low + guard, size, PROT_READ | PROT_WRITE) != 0) {
        // Splitting the mapping in two failed: the process is out of mappings.
        munmap(low, size + guard);
        return NULL;
    }
    return low + guard;
}

void greenlet_stack_unmap(void *base, size_t size) {
    size_t guard = greenlet_page_size();
    munmap((char *)base - guard, size + guard);
    atomic_fetch_sub_explicit(&stacks_mapped, 1, memory_order_relaxed);
}

void greenlet_stack_discard(void *address, size_t size) {
    madvise(address, size, MADV_DONTNEED);
}
