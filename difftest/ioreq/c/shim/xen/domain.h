/* Stand-in: everything Xen's C needs from <xen/domain.h> is in ../emul.h (force-included). */
