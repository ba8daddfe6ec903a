/* Stand-in: everything Xen's C needs from <asm/hvm/vmx/vmx.h> is in ../emul.h (force-included). */
