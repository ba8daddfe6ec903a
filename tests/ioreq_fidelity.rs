//! Keeps the I section of FIDELITY.md honest for the entries of the ioreq port (I1..I99, and the
//! series-history entries I200+; the differential test's I100-I199 are checked by its own
//! oracle): every entry has its four fields and every test it names exists in the file named
//! before it.

use std::fs;
use std::path::Path;

#[test]
fn every_i_entry_is_complete_and_its_tests_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(root.join("FIDELITY.md")).expect("FIDELITY.md");
    let start = text.find("## ioreq servers (I)").expect("I section");
    let rest = &text[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut seen = Vec::new();
    for entry in section.split("\n### I").skip(1) {
        let Some((num, _)) = entry.split_once(':') else {
            panic!("malformed entry {entry:.40}");
        };
        let n: u32 = num.parse().expect("numeric id");
        // I100-I199: the differential test's, checked by its oracle. I200+: the series against
        // its later upstream history, checked here like I1..n but numbered on their own.
        if (100..200).contains(&n) {
            continue;
        }
        if n < 100 {
            seen.push(n);
        }
        for field in ["- C:", "- Rust:", "- Reason:", "- Test:"] {
            assert!(entry.contains(field), "I{n} lacks {field}");
        }
        let test_line = entry
            .lines()
            .find(|l| l.starts_with("- Test:"))
            .expect("Test line");
        let mut file: Option<String> = None;
        let mut named = 0;
        for tok in test_line.split('`').skip(1).step_by(2) {
            if tok.ends_with(".rs") {
                assert!(root.join(tok).exists(), "I{n}: no file {tok}");
                file = Some(fs::read_to_string(root.join(tok)).expect("readable"));
            } else {
                let f = file
                    .as_ref()
                    .unwrap_or_else(|| panic!("I{n}: test {tok} without a file"));
                assert!(f.contains(&format!("fn {tok}(")), "I{n}: no test fn {tok}");
                named += 1;
            }
        }
        assert!(named > 0, "I{n} names no test");
    }
    assert!(
        seen.len() >= 14,
        "expected the I entries, found {}",
        seen.len()
    );
    let want: Vec<u32> = (1..=seen.len() as u32).collect();
    assert_eq!(seen, want, "I entries numbered 1..n in order");
}
