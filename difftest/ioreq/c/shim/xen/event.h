/* Stand-in: everything Xen's C needs from <xen/event.h> is in ../emul.h (force-included). */
