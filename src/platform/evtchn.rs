//! Xen-consumer event channels: one per vCPU per ioreq server, plus the buffered ring's.
//! (Grows with the ioreq port.)

pub trait EventChannels {}
