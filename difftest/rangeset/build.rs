//! Builds Xen 4.17's own `xen/common/rangeset.c`, unchanged, beside the Rust rangeset:
//!
//! 1. `scripts/fetch-xen-src 4.17` gives the verified source tree (exit 1: unavailable, so the C
//!    side is left out and the tests report SKIPPED; exit 2: checksum mismatch, a hard failure).
//! 2. rangeset.c and our harness.c are compiled with the shim in `c/shim` (shadow headers and a
//!    forced `-include emul.h`).
//! 3. Every global the two objects define is renamed to `xenc_<name>` (so the C's internal calls
//!    stay inside the C and never bind to the Rust's `#[no_mangle]` exports), then archived.
//! 4. `c/header_check.c` includes Xen's `rangeset.h` and our generated `include/xen_ioreq_rs.h`
//!    together: a prototype that differs fails this build.
//!
//! Always, even without Xen's source: `c/abi_series_caller.c` (FIDELITY R15) calls the Rust
//! rangeset as callers built against our header and against the 2014 series' header do.
//!
//! cfgs for the crate: `xen_c_unavailable` (no C side), `rust_rangeset_missing` (the Rust header
//! does not declare the rangeset yet; the tests then fail and say so).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Xen 4.17's exported rangeset functions (rangeset.h) plus `rangeset_limit`: 19 in all.
const RANGESET_FUNCTIONS: [&str; 19] = [
    "rangeset_domain_initialise",
    "rangeset_domain_destroy",
    "rangeset_new",
    "rangeset_destroy",
    "rangeset_limit",
    "rangeset_is_empty",
    "rangeset_add_range",
    "rangeset_claim_range",
    "rangeset_remove_range",
    "rangeset_contains_range",
    "rangeset_overlaps_range",
    "rangeset_report_ranges",
    "rangeset_consume_ranges",
    "rangeset_merge",
    "rangeset_add_singleton",
    "rangeset_remove_singleton",
    "rangeset_contains_singleton",
    "rangeset_swap",
    "rangeset_domain_printk",
];

fn main() {
    println!("cargo:rustc-check-cfg=cfg(xen_c_unavailable)");
    println!("cargo:rustc-check-cfg=cfg(rust_rangeset_missing)");
    println!("cargo:rustc-check-cfg=cfg(bench_have_callgrind)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=c");
    println!("cargo:rerun-if-env-changed=XEN_SRC_CACHE");
    println!("cargo:rerun-if-env-changed=XEN_C_SANITIZE");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let top = manifest.join("../..");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    let rust_header = top.join("include/xen_ioreq_rs.h");
    println!("cargo:rerun-if-changed={}", rust_header.display());

    abi_series_caller(&manifest, &top);

    let missing = missing_declarations(&rust_header);
    fs::write(out.join("missing_declarations.txt"), missing.join("\n")).expect("write OUT_DIR");
    if !missing.is_empty() {
        println!("cargo:rustc-cfg=rust_rangeset_missing");
        println!(
            "cargo:warning=include/xen_ioreq_rs.h does not declare {} of the 19 rangeset functions; \
             the differential tests will fail",
            missing.len()
        );
    }

    let Some(xen) = fetch_xen(&top) else {
        // Try again on the next build: a path that does not exist counts as changed.
        let cache = env::var_os("XEN_SRC_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| top.join("target/xen-src"));
        println!(
            "cargo:rerun-if-changed={}",
            cache.join("xen-4.17/.verified").display()
        );
        println!("cargo:rustc-cfg=xen_c_unavailable");
        println!(
            "cargo:warning=Xen 4.17 C source UNAVAILABLE: the rangeset differential tests will be \
             SKIPPED (and fail with XEN_DIFF_REQUIRED=1)"
        );
        return;
    };
    // Re-run when the source tree is (re)fetched.
    println!("cargo:rerun-if-changed={}", xen.join(".verified").display());

    let shim = manifest.join("c/shim");
    let xen_include = xen.join("xen/include");
    let mut build = cc::Build::new();
    build
        .include(&shim)
        .include(&xen_include)
        .flag("-include")
        .flag(shim.join("emul.h").to_str().expect("utf-8 path"))
        .flag("-std=gnu11")
        .flag("-fno-strict-aliasing")
        .opt_level(2)
        .warnings(true)
        .extra_warnings(false)
        .warnings_into_errors(true)
        .file(xen.join("xen/common/rangeset.c"))
        .file(manifest.join("c/harness.c"));
    sanitize(&mut build);
    let objects = build.compile_intermediates();

    // Rename every global the C defines, in every object, so cross-object calls follow.
    archive(&objects, &out, "xenc");
    if !missing.is_empty() {
        // Until the Rust exists, a second renamed copy of the C stands in for it, so that the
        // harness itself can be exercised (the tests still fail: see `rust_rangeset_missing`).
        archive(&objects, &out, "xens");
    }

    // The benchmark's copy of the C, built as a release Xen builds it (ASSERT off, see
    // c/shim/emul.h), renamed `xenb_*`; and the benchmark's C driver (c/bench.c), which calls it
    // and the Rust exports and is not renamed.
    let bench_dir = out.join("bench");
    fs::create_dir_all(&bench_dir).expect("create OUT_DIR/bench");
    let mut release = build.clone();
    release
        .define("XENC_BENCH_RELEASE", None)
        .out_dir(&bench_dir);
    let release_objects = release.compile_intermediates();
    archive(&release_objects, &bench_dir, "xenb");
    let mut driver = cc::Build::new();
    driver
        .file(manifest.join("c/bench.c"))
        .opt_level(2)
        .warnings(true)
        .warnings_into_errors(true)
        .out_dir(bench_dir.join("driver"));
    if Path::new("/usr/include/valgrind/callgrind.h").exists() {
        driver.define("BENCH_HAVE_CALLGRIND", None);
        println!("cargo:rustc-cfg=bench_have_callgrind");
    }
    driver.compile("rangeset_bench_driver");

    // Prototype check: Xen's header and ours in one translation unit.
    let compiler = build.get_compiler();
    let mut cmd = compiler.to_command();
    cmd.arg("-I")
        .arg(&shim)
        .arg("-I")
        .arg(&xen_include)
        .arg("-I")
        .arg(top.join("include"))
        .arg("-include")
        .arg(shim.join("emul.h"))
        .arg("-std=gnu11")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-c")
        .arg(manifest.join("c/header_check.c"))
        .arg("-o")
        .arg(out.join("header_check.o"));
    let res = cmd.output().expect("run the C compiler");
    if !res.status.success() {
        panic!(
            "header check FAILED: include/xen_ioreq_rs.h disagrees with Xen 4.17's rangeset.h:\n{}",
            String::from_utf8_lossy(&res.stderr)
        );
    }
    fs::write(out.join("header_check.ok"), "").expect("write OUT_DIR");
}

/// Builds `c/abi_series_caller.c` against our header into `libabi_series_caller.a` (it calls the
/// Rust's exports, which the test binaries link).
fn abi_series_caller(manifest: &Path, top: &Path) {
    cc::Build::new()
        .include(top.join("include"))
        .file(manifest.join("c/abi_series_caller.c"))
        .flag("-std=gnu11")
        .opt_level(2)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("abi_series_caller");
}

/// Renames every defined global `g` of `objects` to `<prefix>_g` and archives them as
/// `lib<prefix>_rangeset.a`, linked into the crate.
fn archive(objects: &[PathBuf], out: &Path, prefix: &str) {
    let mut map = String::new();
    for o in objects {
        for sym in defined_globals(o) {
            map.push_str(&format!("{sym} {prefix}_{sym}\n"));
        }
    }
    assert!(
        map.contains(&format!("rangeset_add_range {prefix}_rangeset_add_range")),
        "nm found no rangeset symbols in {objects:?}"
    );
    let map_file = out.join(format!("{prefix}_rename.map"));
    fs::write(&map_file, &map).expect("write OUT_DIR");
    let lib = out.join(format!("lib{prefix}_rangeset.a"));
    let _ = fs::remove_file(&lib);
    let mut ar = Command::new("ar");
    ar.arg("crs").arg(&lib);
    for o in objects {
        let renamed = o.with_extension(format!("{prefix}.o"));
        run(Command::new("objcopy")
            .arg(format!("--redefine-syms={}", map_file.display()))
            .arg(o)
            .arg(&renamed));
        ar.arg(&renamed);
    }
    run(&mut ar);
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static={prefix}_rangeset");
}

/// The rangeset functions the generated Rust header does not declare.
fn missing_declarations(header: &Path) -> Vec<String> {
    let text = fs::read_to_string(header).unwrap_or_default();
    RANGESET_FUNCTIONS
        .iter()
        .filter(|f| {
            let mut rest = text.as_str();
            // A declaration: the name as a whole word followed by '('.
            while let Some(i) = rest.find(*f) {
                let before = rest[..i].chars().next_back();
                let after = rest[i + f.len()..].trim_start();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && after.starts_with('(')
                {
                    return false;
                }
                rest = &rest[i + f.len()..];
            }
            true
        })
        .map(|f| f.to_string())
        .collect()
}

/// Runs scripts/fetch-xen-src 4.17: the tree's path, or None when the source is unavailable.
fn fetch_xen(top: &Path) -> Option<PathBuf> {
    let script = top.join("scripts/fetch-xen-src");
    let res = Command::new(&script)
        .arg("4.17")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&res.stderr);
    match res.status.code() {
        Some(0) => {
            let path = String::from_utf8_lossy(&res.stdout).trim().to_string();
            Some(PathBuf::from(path))
        }
        Some(1) => {
            println!("cargo:warning=fetch-xen-src: {}", stderr.trim());
            None
        }
        _ => panic!("fetch-xen-src 4.17 failed hard ({}): {stderr}", res.status),
    }
}

fn defined_globals(object: &Path) -> Vec<String> {
    let res = Command::new("nm")
        .args(["-g", "--defined-only", "--format=posix"])
        .arg(object)
        .output()
        .expect("run nm");
    assert!(res.status.success(), "nm {} failed", object.display());
    String::from_utf8_lossy(&res.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

// sanitize: the ASan mode shared with difftest/ioreq.
include!("../c_sanitize.rs");

fn run(cmd: &mut Command) {
    let res = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        res.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
}
