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
    println!("cargo::rustc-check-cfg=cfg(bench_have_callgrind)");
    println!("cargo:rerun-if-changed=c");
    println!("cargo:rerun-if-env-changed=XEN_SRC_CACHE");
    println!("cargo:rerun-if-env-changed=XEN_DIFF_REQUIRED");
    println!("cargo:rerun-if-env-changed=XEN_C_SANITIZE");

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

    prefix_globals(&objects, &dispatch, &out, Ver::V417);
    objects.extend(dispatch);
    if let Some(x414) = &x414 {
        objects.extend(build_414(&cdir, x414, &out));
    }
    check_closed(&objects);
    build_bench(&cdir, &x417, &xen_files, &out);
    let lib = out.join("libxenc_ioreq.a");
    let _ = fs::remove_file(&lib);
    run(Command::new(ar()).arg("crs").arg(&lib).args(&objects));
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=xenc_ioreq");
}

/// The Rust exports the benchmark driver (`c/bench.c`) calls: left unresolved in the C objects.
const BENCH_RUST_EXPORTS: &[&str] = &[
    "hvm_ioreq_select_and_send",
    "bench_rust_select",
    "hvm_ioreq_complete",
];

/// The benchmark's copy of Xen 4.17's ioreq C: the same files built as a release Xen builds them
/// (`XENC_BENCH_RELEASE`: ASSERT off; see c/emul.h), on Xen's own rangeset.c (no dispatcher),
/// with the fakes, the harness and the driver `c/bench.c`; every global renamed `xenb_<name>`,
/// archived as `libxenb_ioreq.a`.
fn build_bench(cdir: &Path, x417: &Path, xen_files: &[&str], out: &Path) {
    let dir = out.join("bench");
    let callgrind = Path::new("/usr/include/valgrind/callgrind.h").exists();
    let mut objects = harness_build(cdir, x417, false)
        .define("XENC_BENCH_RELEASE", None)
        .files(xen_files.iter().map(|f| x417.join(f)))
        .out_dir(dir.join("xen"))
        .compile_intermediates();
    let mut ours = harness_build(cdir, x417, true);
    ours.define("XENC_BENCH_RELEASE", None)
        .file(cdir.join("fakes.c"))
        .file(cdir.join("harness.c"))
        .file(cdir.join("bench.c"))
        .out_dir(dir.join("ours"));
    if callgrind {
        ours.define("BENCH_HAVE_CALLGRIND", None);
        println!("cargo::rustc-cfg=bench_have_callgrind");
    }
    objects.extend(ours.compile_intermediates());
    let defined = symbols(&objects, "--defined-only");
    let map: String = defined.iter().map(|s| format!("{s} xenb_{s}\n")).collect();
    let map_file = dir.join("xenb-redefine-syms.txt");
    fs::write(&map_file, map).expect("write symbol map");
    for o in &objects {
        run(Command::new("objcopy")
            .arg(format!("--redefine-syms={}", map_file.display()))
            .arg(o));
    }
    let open: Vec<String> = symbols(&objects, "--undefined-only")
        .into_iter()
        .filter(|s| {
            !s.starts_with("xenb_")
                && !LIBC.contains(&s.as_str())
                && !is_sanitizer_symbol(s)
                && !BENCH_RUST_EXPORTS.contains(&s.as_str())
                && s != "clock_gettime"
        })
        .collect();
    assert!(
        open.is_empty(),
        "the benchmark's C references symbols it does not define: {open:?}"
    );
    let lib = out.join("libxenb_ioreq.a");
    let _ = fs::remove_file(&lib);
    run(Command::new(ar()).arg("crs").arg(&lib).args(&objects));
    println!("cargo:rustc-link-lib=static=xenb_ioreq");
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

/// Xen 4.14's `xen/arch/x86/hvm/ioreq.c` and `xen/common/rangeset.c`, unchanged, with the same
/// shim, fakes and harness built for 4.14 (`XENC_XEN414`) plus our rendering of 4.14's DMOP
/// cases (`c/c414/dm414.c`); every global renamed to `xen414_<name>` (`xenc_h_*` to
/// `xen414_h_*`), so nothing can bind to the 4.17 objects or to the Rust exports.
fn build_414(cdir: &Path, x414: &Path, out: &Path) -> Vec<PathBuf> {
    let dir = out.join("x414");
    let inc = dir.join("inc");
    fs::create_dir_all(&inc).expect("create OUT_DIR/x414/inc");
    extract_414_structs(x414, &inc.join("xenc414_structs.h"));
    // <asm/hvm/ioreq.h> (the hvm_* prototypes) from 4.14's own tree; the shim's empty stand-ins
    // come first for every other asm header.
    let asm = inc.join("asm");
    let _ = fs::remove_file(&asm);
    std::os::unix::fs::symlink(x414.join("xen/include/asm-x86"), &asm)
        .expect("symlink OUT_DIR/x414/inc/asm");
    let build = |ours: bool, sub: &str| {
        let mut b = harness_build_with(cdir, x414, Some(&inc), ours);
        b.out_dir(dir.join(sub));
        b
    };
    let mut objects = Vec::new();
    objects.extend(
        build(false, "xen")
            .file(x414.join("xen/arch/x86/hvm/ioreq.c"))
            .file(x414.join("xen/common/rangeset.c"))
            .compile_intermediates(),
    );
    objects.extend(
        build(true, "ours")
            .file(cdir.join("fakes.c"))
            .file(cdir.join("harness.c"))
            .file(cdir.join("c414/dm414.c"))
            .compile_intermediates(),
    );
    let dispatch = build(true, "dispatch")
        .file(cdir.join("rs_dispatch.c"))
        .compile_intermediates();
    prefix_globals(&objects, &dispatch, &dir, Ver::V414);
    objects.extend(dispatch);
    objects
}

/// Writes the pieces of Xen 4.14's private headers that its ioreq.c needs and that our shim must
/// not copy: the server structs (asm-x86/hvm/domain.h), `enum hvm_io_completion` and
/// `hvm_ioreq_needs_completion` (vcpu.h), `hvm_mmio_first_byte/last_byte` (io.h). Each piece is
/// found by its first line and runs to its closing brace; a missing piece fails the build.
fn extract_414_structs(x414: &Path, dst: &Path) {
    let hdr = x414.join("xen/include/asm-x86/hvm");
    let pieces: &[(&str, &[&str])] = &[
        ("vcpu.h", &["enum hvm_io_completion {"]),
        (
            "domain.h",
            &[
                "struct hvm_ioreq_page {",
                "struct hvm_ioreq_vcpu {",
                "#define NR_IO_RANGE_TYPES ",
                "#define MAX_NR_IO_RANGES ",
                "struct hvm_ioreq_server {",
            ],
        ),
        (
            "vcpu.h",
            &["static inline bool hvm_ioreq_needs_completion("],
        ),
        (
            "io.h",
            &[
                "static inline paddr_t hvm_mmio_first_byte(",
                "static inline paddr_t hvm_mmio_last_byte(",
            ],
        ),
    ];
    let mut text = String::from(
        "/* Extracted at build time from Xen 4.14's asm-x86/hvm headers by difftest/ioreq/build.rs. */\n",
    );
    for (file, starts) in pieces {
        let path = hdr.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let src = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let lines: Vec<&str> = src.lines().collect();
        for start in *starts {
            let i = lines
                .iter()
                .position(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("{}: no line starting {start:?}", path.display()));
            let end = if start.starts_with("#define") {
                i
            } else {
                i + lines[i..]
                    .iter()
                    .position(|l| l.starts_with('}'))
                    .unwrap_or_else(|| panic!("{}: {start:?} never closes", path.display()))
            };
            text.push_str(&format!("\n/* {file}:{} */\n", i + 1));
            for l in &lines[i..=end] {
                text.push_str(l);
                text.push('\n');
            }
        }
    }
    fs::write(dst, text).expect("write xenc414_structs.h");
}

fn harness_build(cdir: &Path, xen: &Path, ours: bool) -> cc::Build {
    harness_build_with(cdir, xen, None, ours)
}

/// `extra`: an include directory after the shim (4.14: the extracted structs and `asm/`); its
/// presence also selects the 4.14 variants of `c/` (`XENC_XEN414`).
fn harness_build_with(cdir: &Path, xen: &Path, extra: Option<&Path>, ours: bool) -> cc::Build {
    let mut b = cc::Build::new();
    b.include(cdir.join("shim"));
    if let Some(extra) = extra {
        b.include(extra).define("XENC_XEN414", None);
    }
    b.include(xen.join("xen/include"))
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
    sanitize(&mut b);
    b
}

// sanitize, is_sanitizer_symbol: the ASan mode shared with difftest/rangeset.
include!("../c_sanitize.rs");

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

/// Which of the two C builds a set of objects is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ver {
    V417,
    V414,
}

/// Renames every global defined by `objects` consistently in all of them: for 4.17 to
/// `xenc_<name>` (except the harness's own `xenc_*`, which keep their names); for 4.14 every
/// global to `xen414_<name>`, a `xenc_` prefix becoming `xen414_`. Except that in everything but
/// Xen's rangeset.o the dispatched rangeset functions become `xenc_rsd_<name>` /
/// `xen414_rsd_<name>` (defined by `dispatch`, whose own references go to Xen's renamed
/// rangeset).
fn prefix_globals(objects: &[PathBuf], dispatch: &[PathBuf], out: &Path, ver: Ver) {
    let defined: BTreeSet<String> = symbols(objects.iter().chain(dispatch), "--defined-only")
        .into_iter()
        .filter(|s| ver == Ver::V414 || !s.starts_with("xenc_"))
        .collect();
    let new_name = |s: &str| -> String {
        match (ver, s.strip_prefix("xenc_")) {
            (Ver::V414, Some(rest)) => format!("xen414_{rest}"),
            (Ver::V414, None) => format!("xen414_{s}"),
            (Ver::V417, _) => format!("xenc_{s}"),
        }
    };
    let plain = out.join("xenc-redefine-syms.txt");
    let routed = out.join("xenc-redefine-syms-dispatched.txt");
    let text = |route: bool| -> String {
        defined
            .iter()
            // (Only the dispatcher defines and uses xenc_rsd_*: the routed map leaves them be.)
            .filter(|s| !(route && s.starts_with("xenc_rsd_")))
            .map(|s| {
                if route && DISPATCHED.contains(&s.as_str()) {
                    let rsd = format!("xenc_rsd_{s}");
                    match ver {
                        Ver::V414 => format!("{s} {}\n", new_name(&rsd)),
                        Ver::V417 => format!("{s} {rsd}\n"),
                    }
                } else {
                    format!("{s} {}\n", new_name(s))
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
    "snprintf",
    "stderr",
    "strlen",
    "strncpy",
    "vsnprintf",
    "__stack_chk_fail",
];

fn symbols<'a>(objects: impl IntoIterator<Item = &'a PathBuf>, flag: &str) -> BTreeSet<String> {
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
        .filter(|s| !defined.contains(s) && !LIBC.contains(&s.as_str()) && !is_sanitizer_symbol(s))
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
