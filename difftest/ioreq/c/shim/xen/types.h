/* Stand-in: everything Xen's C needs from <xen/types.h> is in ../emul.h (force-included). */
