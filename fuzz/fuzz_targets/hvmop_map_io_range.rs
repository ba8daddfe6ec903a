//! HVMOP 19 with raw argument bytes from any caller, after an arbitrary set-up of servers and
//! injected faults. Checks: no panic, the return code is one the op may return (docs/series.md,
//! Hypercalls), a failing call copies nothing back, and nothing leaks.
#![no_main]

#[path = "ioreq_env/mod.rs"]
mod ioreq_env;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ioreq_env::fuzz_one_hvmop(19, data));
