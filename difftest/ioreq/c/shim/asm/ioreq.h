/* Stand-in: everything Xen's C needs from <asm/ioreq.h> is in ../emul.h (force-included). */
