//! Xen's rangeset (being ported: see issue 2).
