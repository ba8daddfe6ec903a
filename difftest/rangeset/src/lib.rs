//! Differential tests against Xen's C (see issue 2).
