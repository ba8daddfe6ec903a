//! Keeps the H section of FIDELITY.md honest: every entry has its four fields and every test it
//! names exists, in `tests/hotplug_*.rs` or `src/hotplug/`.

use std::fs;
use std::path::Path;

fn sources() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = String::new();
    for dir in [root.join("tests"), root.join("src/hotplug")] {
        for e in fs::read_dir(&dir).expect("dir exists") {
            let p = e.expect("entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let in_tests = dir.ends_with("tests");
            if name.ends_with(".rs") && (!in_tests || name.starts_with("hotplug_")) {
                all.push_str(&fs::read_to_string(&p).expect("readable"));
            }
        }
    }
    all
}

#[test]
fn every_h_entry_is_complete_and_its_tests_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(root.join("FIDELITY.md")).expect("FIDELITY.md");
    let start = text
        .find("## PCI hotplug controller (H)")
        .expect("H section");
    let rest = &text[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let code = sources();
    let entries: Vec<&str> = section.split("\n### ").skip(1).collect();
    assert!(entries.len() >= 10, "expected the H entries");
    let mut checked = 0;
    for (i, entry) in entries.iter().enumerate() {
        let id = format!("H{}:", i + 1);
        assert!(
            entry.starts_with(&id),
            "entry {} is not {id}: {entry:.40}",
            i + 1
        );
        for field in ["- C:", "- Rust:", "- Reason:", "- Test:"] {
            assert!(entry.contains(field), "{id} lacks {field}");
        }
        // The Test field with its continuation lines (indented by two spaces).
        let tests: String = entry
            .lines()
            .skip_while(|l| !l.starts_with("- Test:"))
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.starts_with("  "))
            .map(|(_, l)| l)
            .collect();
        let names: Vec<&str> = tests.split('`').skip(1).step_by(2).collect();
        assert!(!names.is_empty(), "{id} names no test");
        for n in &names {
            assert!(code.contains(&format!("fn {n}(")), "{id}: no test fn {n}");
        }
        checked += names.len();
    }
    // Every Test line, continuation lines included, was read.
    assert!(checked >= 25, "only {checked} test names found");
}
