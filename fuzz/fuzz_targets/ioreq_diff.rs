//! Differential fuzzing of the ioreq servers: the fuzzer's bytes choose the world and every
//! hypercall argument, guest access and emulator action of one sequence, which runs on the Rust
//! (2014 series semantics) and on Xen 4.17's C side by side (difftest/ioreq). Any divergence not
//! explained by a FIDELITY I-entry, or a leak, is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    difftest_ioreq::fuzz_one(data);
});
