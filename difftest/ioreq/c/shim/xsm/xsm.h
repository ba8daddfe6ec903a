/* Stand-in: everything Xen's C needs from <xsm/xsm.h> is in ../emul.h (force-included). */
