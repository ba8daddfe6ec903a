/* Stand-in: everything Xen's C needs from <xen/sched.h> is in ../emul.h (force-included). */
