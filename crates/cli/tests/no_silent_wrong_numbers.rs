//! "No silent wrong numbers" (issue 13): one row per bad input, run through the
//! `drgdip` binary. Every row ends in a clear, located error (non-zero exit) or a
//! documented warning (exit 0 with the warning on stderr and the figure it
//! concerns stated), never an exit 0 with a silently changed figure.
//!
//! The fixture is a small synthetic region (`drgdip synth`) with weights
//! calibrated on its first year; each row copies what it needs into its own
//! directory, breaks one thing and runs one command.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The shared, unbroken inputs.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn claims(&self, year: u16) -> PathBuf {
        self.dir.join(format!("claims-{year}.csv"))
    }
    fn institutions(&self) -> PathBuf {
        self.dir.join("institutions.csv")
    }
    fn weights(&self) -> PathBuf {
        self.dir.join("weights-2024.csv")
    }
    fn scheme(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../synth/data/demo-scheme")
    }
    fn text(&self, p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
}

fn drgdip() -> Command {
    Command::new(env!("CARGO_BIN_EXE_drgdip"))
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("drgdip-integrity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ok = |c: &mut Command| {
            let o = c.output().unwrap();
            assert!(o.status.success(), "fixture: {}", String::from_utf8_lossy(&o.stderr));
        };
        ok(drgdip()
            .args(["synth", "--hospitals", "8", "--cases", "3000", "--years", "2024,2025", "--seed", "5", "--out"])
            .arg(&dir));
        let f = Fixture { dir };
        ok(drgdip()
            .args(["weights", "calibrate", "--cases"])
            .arg(f.claims(2024))
            .arg("--scheme")
            .arg(f.scheme())
            .arg("--out")
            .arg(f.weights()));
        f
    })
}

/// What a row must end in.
enum Expect {
    /// Non-zero exit; stderr contains every text (the file, line, field, rule or key named).
    Refused(&'static [&'static str]),
    /// Exit 0; stderr contains every text (the documented warning with its figure).
    Warned(&'static [&'static str]),
}

struct Row {
    name: &'static str,
    /// Writes the broken inputs into `dir` and returns the command's arguments.
    run: fn(&Fixture, &Path) -> Vec<OsString>,
    expect: Expect,
}

fn args(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

/// Replace line `n` (1-based) of a text file with `f(line)`.
fn edit_line(text: &str, n: usize, f: impl FnOnce(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut f = Some(f);
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == n {
            let (body, nl) = l.strip_suffix('\n').map_or((l, ""), |b| (b, "\n"));
            out.push_str(&(f.take().expect("one line"))(body));
            out.push_str(nl);
        } else {
            out.push_str(l);
        }
    }
    out
}

const ROWS: &[Row] = &[
    // ------------------------------------------------------------ readers
    Row {
        name: "unterminated quote in line 10: only that record is rejected, the rest read",
        run: |f, d| {
            let p = d.join("claims.csv");
            let text = edit_line(&f.text(&f.claims(2025)), 10, |l| l.replacen(',', ",\"", 3));
            std::fs::write(&p, text).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::Warned(&["claims.csv", "line 10", "rejected"]),
    },
];

#[test]
fn no_silent_wrong_numbers() {
    let f = fixture();
    let mut failures = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        let d = f.dir.join(format!("row{i:02}"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let a = (row.run)(f, &d);
        let o = drgdip().args(&a).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let (want_ok, texts) = match &row.expect {
            Expect::Refused(t) => (false, *t),
            Expect::Warned(t) => (true, *t),
        };
        let missing: Vec<&&str> = texts.iter().filter(|t| !stderr.contains(**t)).collect();
        if o.status.success() != want_ok || !missing.is_empty() {
            failures.push(format!(
                "row {i} ({}): exit {:?}, wanted {}; missing {missing:?}\nstderr:\n{stderr}",
                row.name,
                o.status.code(),
                if want_ok { "0 with a warning" } else { "an error" }
            ));
        }
    }
    eprintln!("{} rows, {} failed", ROWS.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
