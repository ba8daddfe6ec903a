/* Stand-in: everything Xen's C needs from <asm/hvm/hvm.h> is in ../emul.h (force-included). */
