//! Differential fuzzing of the rangeset: the input bytes decide a sequence of operations (all 19
//! functions, reversed ranges, NULLs, allocation failures, ...) that runs on Xen 4.17's own
//! rangeset.c and on the Rust; any divergence the fidelity ledger does not explain is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Lets the oracle make the Rust's allocations fail (ledger R12), as it does the C's.
#[global_allocator]
static ALLOC: xen_ioreq_rs::platform::host::alloc::CountingAllocator =
    xen_ioreq_rs::platform::host::alloc::CountingAllocator;

fuzz_target!(|data: &[u8]| {
    difftest_rangeset::oracle::fuzz_one(data);
});
