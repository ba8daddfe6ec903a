/* Stand-in: everything Xen's C needs from <xen/trace.h> is in ../emul.h (force-included). */
