// Shared by difftest/ioreq/build.rs and difftest/rangeset/build.rs (`include!`d by both).

/// `XEN_C_SANITIZE=address` (the ASan mode of `scripts/fuzz-campaign`): Xen's C and our C beside it
/// are built with AddressSanitizer. Only for a Rust side built with `-Zsanitizer=address` (`cargo
/// fuzz --sanitizer address`), whose runtime the instrumented C then uses.
fn sanitize(b: &mut cc::Build) {
    match env::var("XEN_C_SANITIZE").as_deref() {
        Err(_) | Ok("") => {}
        Ok("address") => {
            b.flag("-fsanitize=address").flag("-fno-omit-frame-pointer");
        }
        Ok(other) => panic!("XEN_C_SANITIZE={other}: only 'address' is supported"),
    }
}

/// Whether `sym` is a sanitizer runtime's (the instrumented C calls them; never a Rust export).
#[allow(dead_code)] // difftest/rangeset's archive check does not need it.
fn is_sanitizer_symbol(sym: &str) -> bool {
    sym.starts_with("__asan_") || sym.starts_with("__sanitizer_")
}
