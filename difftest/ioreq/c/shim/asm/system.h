/* Stand-in: everything Xen's C needs from <asm/system.h> is in ../emul.h (force-included). */
