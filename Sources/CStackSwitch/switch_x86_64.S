// x86-64 System V: rbx, rbp, r12-r15, the x87 control word and MXCSR are callee-saved.
#if defined(__x86_64__) && !defined(_WIN32)
    .text
    .globl  greenlet_switch_stack
    .type   greenlet_switch_stack, @function
    .p2align 4
greenlet_switch_stack:
    .cfi_startproc
    pushq   %rbp
    .cfi_def_cfa_offset 16
    pushq   %rbx
    .cfi_def_cfa_offset 24
    pushq   %r12
    .cfi_def_cfa_offset 32
    pushq   %r13
    .cfi_def_cfa_offset 40
    pushq   %r14
    .cfi_def_cfa_offset 48
    pushq   %r15
    .cfi_def_cfa_offset 56
    subq    $8, %rsp                // rsp is now 16-byte aligned
    .cfi_def_cfa_offset 64
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rdi, %rbx              // context survives both calls in callee-saved registers
    movq    %rdx, %r12              // restore callback
    movq    %rsi, %rax
    movq    %rsp, %rsi              // save(context, sp)
    callq   *%rax
    testq   %rax, %rax
    jz      1f
    movq    %rax, %rsp              // now on the target's stack
    movq    %rbx, %rdi
    callq   *%r12                   // restore(context)
    xorl    %eax, %eax
    jmp     2f
1:  movl    $1, %eax
2:  ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    .cfi_def_cfa_offset 8
    retq
    .cfi_endproc
    .size   greenlet_switch_stack, .-greenlet_switch_stack

    .globl  greenlet_caller_stack_pointer
    .type   greenlet_caller_stack_pointer, @function
    .p2align 4
greenlet_caller_stack_pointer:
    .cfi_startproc
    leaq    8(%rsp), %rax           // above our return address: the caller's rsp
    retq
    .cfi_endproc
    .size   greenlet_caller_stack_pointer, .-greenlet_caller_stack_pointer

#endif

// Outside the architecture test on purpose: every object of the link, including the empty
// one built for the other architecture, must say that it needs no executable stack.
// Without the note the linker marks the whole library so, and glibc 2.41+ refuses to load it.
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
