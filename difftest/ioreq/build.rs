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
    // The rangeset dispatcher (Xen's C rangeset or the Rust one), renamed differently.
    let dispatch = harness_build(&cdir, &x417, true)
        .file(cdir.join("rs_dispatch.c"))
        .compile_intermediates();
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

    prefix_globals(&objects, &dispatch, &out);
    objects.extend(dispatch);
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

/// The rangeset functions whose calls from the ioreq code and the harness go through
/// `rs_dispatch.c`.
const DISPATCHED: &[&str] = &[
    "rangeset_new",
    "rangeset_destroy",
    "rangeset_limit",
    "rangeset_add_range",
    "rangeset_remove_range",
    "rangeset_contains_range",
    "rangeset_overlaps_range",
    "rangeset_contains_singleton",
    "rangeset_report_ranges",
];

/// Renames every global defined by `objects` (except the harness API, already `xenc_*`) to
/// `xenc_<name>`, consistently in all of them; except that in everything but Xen's rangeset.o
/// the dispatched rangeset functions become `xenc_rsd_<name>` (defined by `dispatch`, whose own
/// references go to Xen's renamed rangeset).
fn prefix_globals(objects: &[PathBuf], dispatch: &[PathBuf], out: &Path) {
    let defined: BTreeSet<String> = symbols(objects, "--defined-only")
        .into_iter()
        .filter(|s| !s.starts_with("xenc_"))
        .collect();
    let plain = out.join("xenc-redefine-syms.txt");
    let routed = out.join("xenc-redefine-syms-dispatched.txt");
    let text = |route: bool| -> String {
        defined
            .iter()
            .map(|s| {
                if route && DISPATCHED.contains(&s.as_str()) {
                    format!("{s} xenc_rsd_{s}\n")
                } else {
                    format!("{s} xenc_{s}\n")
                }
            })
            .collect()
    };
    fs::write(&plain, text(false)).expect("write symbol map");
    fs::write(&routed, text(true)).expect("write symbol map");
    for o in objects.iter().chain(dispatch) {
        let is_rangeset = o
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with("rangeset.o"));
        let is_dispatch = dispatch.contains(o);
        let map = if is_rangeset || is_dispatch {
            &plain
        } else {
            &routed
        };
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
