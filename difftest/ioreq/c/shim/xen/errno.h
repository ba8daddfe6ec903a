/* Stand-in: everything Xen's C needs from <xen/errno.h> is in ../emul.h (force-included). */
