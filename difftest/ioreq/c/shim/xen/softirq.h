/* Stand-in: everything Xen's C needs from <xen/softirq.h> is in ../emul.h (force-included). */
