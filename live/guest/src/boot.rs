//! The PVH entry: Xen (or QEMU's PVH loader) starts us at `pvh_start32`, named by the
//! `XEN_ELFNOTE_PHYS32_ENTRY` note, in 32-bit flat protected mode with paging off and `ebx` =
//! the physical address of `hvm_start_info`. We clear .bss, identity-map the first 4 GiB with
//! 2 MiB pages (RAM, the console page and the MMIO window at 0xe0000000 all live there), enable
//! SSE, enter long mode and call `guest_main(start_info)` on our own stack, with the FPU, MXCSR
//! and RFLAGS in known states (the PVH ABI fixes only a few control bits; anything else is
//! whatever the loader left). `guest_main` installs the IDT (traps.rs) first thing.

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .p2align 2
    .long 4              /* name size: "Xen\0" */
    .long 4              /* descriptor size */
    .long 18             /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .long pvh_start32
    .p2align 2

    .section .bss.pagetables, "aw", @nobits
    .p2align 12
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4
    .p2align 4
boot_stack: .skip 65536
boot_stack_top:

    .section .rodata.boot_gdt, "a"
    .p2align 4
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: flat data */
boot_gdt_end:
boot_gdt_desc:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .section .text.pvh_entry, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi
    /* clear .bss (page tables and stack included) */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb
    /* PML4[0] -> PDPT; PDPT[0..4] -> four page directories */
    mov $boot_pdpt + 3, %eax
    mov %eax, boot_pml4
    mov $boot_pd + 3, %eax
    mov %eax, boot_pdpt
    add $0x1000, %eax
    mov %eax, boot_pdpt + 8
    add $0x1000, %eax
    mov %eax, boot_pdpt + 16
    add $0x1000, %eax
    mov %eax, boot_pdpt + 24
    /* 2048 entries of 2 MiB: present, writable, large page */
    mov $boot_pd, %edi
    mov $0x83, %eax
    mov $2048, %ecx
1:
    mov %eax, (%edi)
    movl $0, 4(%edi)
    add $0x200000, %eax
    add $8, %edi
    dec %ecx
    jnz 1b
    mov $boot_pml4, %eax
    mov %eax, %cr3
    /* CR4: PAE, OSFXSR, OSXMMEXCPT */
    mov %cr4, %eax
    or $0x620, %eax
    mov %eax, %cr4
    /* EFER.LME */
    mov $0xc0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    /* CR0: paging, protection, monitor coprocessor, native x87 errors (NE); clear EM (x87 and SSE
       instructions would raise #UD) and TS (the first one would raise #NM): Rust uses SSE. */
    mov %cr0, %eax
    and $0xfffffff3, %eax
    or $0x80000023, %eax
    mov %eax, %cr0
    lgdt boot_gdt_desc
    ljmp $0x08, $2f

    .code64
2:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    mov $boot_stack_top, %rsp
    /* RFLAGS = 2 (the reserved bit only): DF clear as the ABI wants, AC/TF/NT/IF clear. */
    pushq $2
    popfq
    /* x87 and SSE control to their defaults: fninit (all x87 exceptions masked) and MXCSR
       0x1f80 (all SIMD exceptions masked, round to nearest), whatever the loader left. */
    fninit
    pushq $0x1f80
    ldmxcsr (%rsp)
    /* The ABI's 16-byte alignment at the call (boot_stack_top is aligned; made sure here). */
    and $-16, %rsp
    mov %esi, %edi
    call guest_main
3:
    hlt
    jmp 3b
    "#,
    options(att_syntax)
);
