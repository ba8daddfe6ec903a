/* Stand-in: everything Xen's C needs from <xen/init.h> is in ../emul.h (force-included). */
