//! Differential tests against Xen's ioreq C (see issue 3).
