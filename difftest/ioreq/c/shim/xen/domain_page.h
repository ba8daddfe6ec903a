/* Stand-in: everything Xen's C needs from <xen/domain_page.h> is in ../emul.h (force-included). */
