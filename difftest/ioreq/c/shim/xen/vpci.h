/* Stand-in: everything Xen's C needs from <xen/vpci.h> is in ../emul.h (force-included). */
