/* Stand-in: everything Xen's C needs from <xen/irq.h> is in ../emul.h (force-included). */
