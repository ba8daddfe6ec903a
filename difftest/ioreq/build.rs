//! Builds Xen's ioreq C (4.17: `xen/common/ioreq.c` + `xen/arch/x86/hvm/ioreq.c`, with Xen's
//! `rangeset.c`) unchanged in userspace, with our stand-in headers, emulation header, fakes and
//! harness from `c/`, plus the ABI layout probe against Xen's public headers (4.17 and 4.14).
//!
//! Every global the C objects define is renamed to `xenc_<name>` (nm + objcopy
//! --redefine-syms), so the C never binds to the Rust crate's `#[no_mangle]` exports and the
//! tests reach the C only through the `xenc_*` names.
//!
//! Without the source (offline): cfg `xen_c_unavailable` and a warning; the tests then print a
//! loud SKIPPED (and fail when XEN_DIFF_REQUIRED=1). A checksum mismatch fails the build.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(xen_c_unavailable)");
    println!("cargo::rustc-check-cfg=cfg(xen_c_414_unavailable)");
    println!("cargo:rerun-if-changed=c");
    println!("cargo:rerun-if-env-changed=XEN_SRC_CACHE");
    println!("cargo:rerun-if-env-changed=XEN_DIFF_REQUIRED");

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let top = manifest.join("../..");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let cdir = manifest.join("c");

    let Some(x417) = fetch(&top, "4.17") else {
        println!("cargo::rustc-cfg=xen_c_unavailable");
        println!("cargo::rustc-cfg=xen_c_414_unavailable");
        return;
    };
    let x414 = fetch(&top, "4.14");
    if x414.is_none() {
        println!("cargo::rustc-cfg=xen_c_414_unavailable");
    }

    let mut objects = Vec::new();

    // Xen's own files, unchanged: their warnings are not ours to fix.
    let xen_files = [
        "xen/common/ioreq.c",
        "xen/arch/x86/hvm/ioreq.c",
        "xen/common/rangeset.c",
    ];
    objects.extend(
        harness_build(&cdir, &x417, false)
            .files(xen_files.iter().map(|f| x417.join(f)))
            .compile_intermediates(),
    );
    // Our harness: warnings on.
    objects.extend(
        harness_build(&cdir, &x417, true)
            .file(cdir.join("fakes.c"))
            .file(cdir.join("harness.c"))
            .compile_intermediates(),
    );
    // The layout probe: public headers only, once per Xen version.
    let mut probes = vec![(x417.clone(), "xenc_layout_probe_417")];
    if let Some(x414) = &x414 {
        probes.push((x414.clone(), "xenc_layout_probe_414"));
    }
    for (tree, name) in probes {
        let objs = cc::Build::new()
            .file(cdir.join("layout_probe.c"))
            .include(tree.join("xen/include"))
            .define("__XEN_TOOLS__", None)
            .define("XENC_PROBE", name)
            .warnings(true)
            .extra_warnings(true)
            .out_dir(out.join(name))
            .compile_intermediates();
        objects.extend(objs);
    }

    prefix_globals(&objects, &out);
    check_closed(&objects);
    let lib = out.join("libxenc_ioreq.a");
    let _ = fs::remove_file(&lib);
    run(Command::new(ar()).arg("crs").arg(&lib).args(&objects));
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=xenc_ioreq");
}

/// `scripts/fetch-xen-src <ver>`: the tree's path, `None` when unavailable (exit 1), a build
/// failure on a checksum mismatch (exit 2) or anything unexpected.
fn fetch(top: &Path, ver: &str) -> Option<PathBuf> {
    let script = top.join("scripts/fetch-xen-src");
    let res = Command::new(&script)
        .arg(ver)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    match res.status.code() {
        Some(0) => {
            let path = String::from_utf8_lossy(&res.stdout).trim().to_string();
            println!("cargo:rerun-if-changed={path}/.verified");
            Some(PathBuf::from(path))
        }
        Some(1) => {
            println!(
                "cargo:warning=Xen {ver} source unavailable ({}): the ioreq differential tests will report SKIPPED",
                String::from_utf8_lossy(&res.stderr).trim()
            );
            None
        }
        _ => panic!(
            "fetch-xen-src {ver} failed (checksum mismatch?): {}",
            String::from_utf8_lossy(&res.stderr)
        ),
    }
}

fn harness_build(cdir: &Path, xen: &Path, ours: bool) -> cc::Build {
    let mut b = cc::Build::new();
    b.include(cdir.join("shim"))
        .include(xen.join("xen/include"))
        .include(cdir)
        .define("__XEN__", None)
        .flag("-include")
        .flag(cdir.join("emul.h").to_str().expect("utf-8 path"))
        .flag("-fno-strict-aliasing")
        .flag("-fwrapv")
        .warnings(ours)
        .extra_warnings(ours);
    if ours {
        b.flag("-Wno-missing-field-initializers");
    }
    b
}

fn ar() -> String {
    env::var("AR").unwrap_or_else(|_| "ar".into())
}

/// Renames every global defined by `objects` (except the harness API, already `xenc_*`) to
/// `xenc_<name>`, consistently in all of them.
fn prefix_globals(objects: &[PathBuf], out: &Path) {
    let mut defined = BTreeSet::new();
    for o in objects {
        let res = Command::new("nm")
            .args(["-g", "--defined-only", "-P"])
            .arg(o)
            .output()
            .expect("nm");
        assert!(res.status.success(), "nm {} failed", o.display());
        for line in String::from_utf8_lossy(&res.stdout).lines() {
            if let Some(sym) = line.split_whitespace().next() {
                if !sym.starts_with("xenc_") {
                    defined.insert(sym.to_string());
                }
            }
        }
    }
    let map = out.join("xenc-redefine-syms.txt");
    let text: String = defined.iter().map(|s| format!("{s} xenc_{s}\n")).collect();
    fs::write(&map, text).expect("write symbol map");
    for o in objects {
        run(Command::new("objcopy")
            .arg(format!("--redefine-syms={}", map.display()))
            .arg(o));
    }
}

/// The libc functions the C objects may call; any other symbol they use must be defined by the
/// objects themselves (after renaming), or the C would silently bind to a Rust export.
const LIBC: &[&str] = &[
    "_GLOBAL_OFFSET_TABLE_",
    "abort",
    "calloc",
    "fprintf",
    "free",
    "malloc",
    "memcpy",
    "memmove",
    "memset",
    "realloc",
    "stderr",
    "strlen",
    "strncpy",
    "vsnprintf",
    "__stack_chk_fail",
];

fn symbols(objects: &[PathBuf], flag: &str) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for o in objects {
        let res = Command::new("nm")
            .args(["-g", flag, "-P"])
            .arg(o)
            .output()
            .expect("nm");
        assert!(res.status.success(), "nm {} failed", o.display());
        for line in String::from_utf8_lossy(&res.stdout).lines() {
            if let Some(sym) = line.split_whitespace().next() {
                set.insert(sym.to_string());
            }
        }
    }
    set
}

fn check_closed(objects: &[PathBuf]) {
    let defined = symbols(objects, "--defined-only");
    let open: Vec<String> = symbols(objects, "--undefined-only")
        .into_iter()
        .filter(|s| !defined.contains(s) && !LIBC.contains(&s.as_str()))
        .collect();
    assert!(
        open.is_empty(),
        "the C harness references symbols it does not define (they would bind to Rust exports): {open:?}"
    );
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed");
}
