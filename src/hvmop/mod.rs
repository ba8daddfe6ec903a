//! Not yet ported: see the issue tracker.
