//! `drgdip demo --no-serve` on a small region: every step runs, and the
//! `drg explain` command it prints as the next step works on the demo's own
//! settlement lists.

use std::process::Command;

#[test]
fn the_printed_explain_command_works_on_the_demo_lists() {
    let dir = std::env::temp_dir().join(format!("drgdip-demo-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let o = Command::new(env!("CARGO_BIN_EXE_drgdip"))
        .args(["demo", "--no-serve", "--hospitals", "12", "--cases", "4000", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "demo failed:\n{}\n{}", stdout, String::from_utf8_lossy(&o.stderr));
    let line = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("drgdip drg explain "))
        .unwrap_or_else(|| panic!("no explain command printed:\n{stdout}"));
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let e = Command::new(env!("CARGO_BIN_EXE_drgdip")).args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&e.stdout);
    assert!(e.status.success(), "{line}\n{}", String::from_utf8_lossy(&e.stderr));
    let case = args.iter().skip_while(|a| **a != "--case-id").nth(1).expect("a case id");
    assert!(text.contains(&format!("病例 {case}")), "{text}");
    // The trace ends with the group the case falls into.
    assert!(text.contains("结果：") && text.contains("分组成功"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
