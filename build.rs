//! Generates the C header for the exported ABI with cbindgen into OUT_DIR. The checked-in copy in
//! include/ is what C code uses; `scripts/check-headers` (and `make check`) fails when it is stale,
//! and `make header` refreshes it. Set XEN_IOREQ_RS_NO_HEADER=1 to skip generation.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=XEN_IOREQ_RS_NO_HEADER");
    if env::var_os("XEN_IOREQ_RS_NO_HEADER").is_some() {
        return;
    }
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it")).join("xen_ioreq_rs.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => {
            b.write_to_file(&out);
        }
        Err(e) => println!("cargo:warning=cbindgen failed: {e}"),
    }
}
