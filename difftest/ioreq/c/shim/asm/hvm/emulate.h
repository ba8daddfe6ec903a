/* Stand-in: everything Xen's C needs from <asm/hvm/emulate.h> is in ../emul.h (force-included). */
