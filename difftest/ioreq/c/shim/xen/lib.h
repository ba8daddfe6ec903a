/* Stand-in: everything Xen's C needs from <xen/lib.h> is in ../emul.h (force-included). */
