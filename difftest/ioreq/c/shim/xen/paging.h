/* Stand-in: everything Xen's C needs from <xen/paging.h> is in ../emul.h (force-included). */
