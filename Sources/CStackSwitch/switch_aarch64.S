// AArch64 (AAPCS64): x19-x28, fp, lr, d8-d15 and FPCR are callee-saved.
#if defined(__aarch64__) && !defined(_WIN32)
    .text
    .globl  greenlet_switch_stack
    .type   greenlet_switch_stack, %function
    .p2align 4
greenlet_switch_stack:
    .cfi_startproc
    sub     sp, sp, #176
    .cfi_def_cfa_offset 176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x19, x0                 // context survives both calls in callee-saved registers
    mov     x20, x2                 // restore callback
    mov     x9, x1
    mov     x1, sp                  // save(context, sp)
    blr     x9
    cbz     x0, 1f
    mov     sp, x0                  // now on the target's stack
    mov     x0, x19
    blr     x20                     // restore(context)
    mov     x0, #0
    b       2f
1:  mov     x0, #1
2:  ldr     x9, [sp, #160]
    msr     fpcr, x9
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #176
    .cfi_def_cfa_offset 0
    ret
    .cfi_endproc
    .size   greenlet_switch_stack, .-greenlet_switch_stack

    .globl  greenlet_caller_stack_pointer
    .type   greenlet_caller_stack_pointer, %function
    .p2align 4
greenlet_caller_stack_pointer:
    .cfi_startproc                  // a leaf: the CFA is sp, the return address in x30
    mov     x0, sp                  // no return address is pushed on AArch64
    ret
    .cfi_endproc
    .size   greenlet_caller_stack_pointer, .-greenlet_caller_stack_pointer

#endif

// Outside the architecture test on purpose: every object of the link, including the empty
// one built for the other architecture, must say that it needs no executable stack.
// Without the note the linker marks the whole library so, and glibc 2.41+ refuses to load it.
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
