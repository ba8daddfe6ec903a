//! The checked-in C header (`include/xen_ioreq_rs.h`) must be exactly what cbindgen generates from
//! the sources now. `make header` (this test with `XEN_IOREQ_RS_WRITE_HEADER=1`) rewrites it.

use std::path::Path;

#[test]
fn checked_in_header_matches_cbindgen() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    assert!(
        generated.contains("rangeset_new") && generated.contains("XEN_IOREQ_RS_H"),
        "cbindgen produced a header without the exports: {} bytes",
        generated.len()
    );
    let path = crate_dir.join("include/xen_ioreq_rs.h");
    if std::env::var_os("XEN_IOREQ_RS_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("include/xen_ioreq_rs.h is writable");
        println!("header: {} refreshed", path.display());
        return;
    }
    let checked_in = std::fs::read_to_string(&path).expect("include/xen_ioreq_rs.h exists");
    if checked_in != generated {
        let first = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "include/xen_ioreq_rs.h is stale from line {} on: run `make header` and commit it",
            first + 1
        );
    }
}
