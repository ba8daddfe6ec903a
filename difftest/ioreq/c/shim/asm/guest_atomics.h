/* Stand-in: everything Xen's C needs from <asm/guest_atomics.h> is in ../emul.h (force-included). */
