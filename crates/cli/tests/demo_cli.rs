//! `drgdip demo --no-serve` on a small region, with the embedded demo scheme and with
//! the reference data (CHS-DRG 2.0 in force for 2025, issue 14): every step runs, and
//! the `drg explain` (and `drg diff`) commands it prints as next steps work on the
//! demo's own settlement lists.

use std::path::PathBuf;
use std::process::Command;

fn reference() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference");
    d.join("schemes/chs-drg-2.0/scheme.json").is_file().then(|| d.canonicalize().expect("path"))
}

#[test]
fn the_printed_commands_work_on_the_demo_lists() {
    let mut runs: Vec<(&str, Vec<String>, &str)> = vec![("builtin", vec!["--builtin-scheme".into()], "内置演示方案")];
    match reference() {
        Some(r) => runs.push(("reference", vec!["--reference".into(), r.display().to_string()], "CHS-DRG 2.0：自 2025-01-01 起执行")),
        None => eprintln!("skipped (reference run): ../shared/reference/schemes/chs-drg-2.0 not found"),
    }
    for (name, extra, announced) in runs {
        let dir = std::env::temp_dir().join(format!("drgdip-demo-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let o = Command::new(env!("CARGO_BIN_EXE_drgdip"))
            .args(["demo", "--no-serve", "--hospitals", "12", "--cases", "4000", "--out"])
            .arg(&dir)
            .args(&extra)
            .env_remove("DRGDIP_REFERENCE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{name}: demo failed:\n{}\n{}", stdout, String::from_utf8_lossy(&o.stderr));
        assert!(stdout.contains(announced), "{name}: the schemes in force are not announced:\n{stdout}");
        let line = stdout
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("drgdip drg explain "))
            .unwrap_or_else(|| panic!("{name}: no explain command printed:\n{stdout}"));
        let args: Vec<&str> = line.split_whitespace().skip(1).collect();
        if name == "reference" {
            assert!(line.contains("chs-drg-2.0"), "{line}");
        }
        let e = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&e.stdout);
        assert!(e.status.success(), "{name}: {line}\n{}", String::from_utf8_lossy(&e.stderr));
        let case = args.iter().skip_while(|a| **a != "--case-id").nth(1).expect("a case id");
        assert!(text.contains(&format!("病例 {case}")), "{text}");
        // The trace ends with the group the case falls into.
        assert!(text.contains("结果：") && text.contains("分组成功"), "{text}");
        if let Some(line) = stdout.lines().map(str::trim).find(|l| l.starts_with("drgdip drg diff ")) {
            let args: Vec<&str> = line.split_whitespace().skip(1).collect();
            let d = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(&args).output().unwrap();
            let text = String::from_utf8_lossy(&d.stdout);
            assert!(d.status.success(), "{line}\n{}", String::from_utf8_lossy(&d.stderr));
            assert!(text.contains("cases regrouped: ") && text.contains("changing DRG: "), "{text}");
        } else {
            assert_eq!(name, "builtin", "the reference run prints a diff between the versions");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
