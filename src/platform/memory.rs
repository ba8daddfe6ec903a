//! Guest pages and the P2M: the ioreq servers' shared pages.
//! (Grows with the ioreq port.)

pub trait GuestMemory {}
