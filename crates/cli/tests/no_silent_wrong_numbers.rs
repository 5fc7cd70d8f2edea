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
    /// As `Warned`, and stdout or stderr also contains every text the function
    /// makes from the row's directory (figures known once the inputs are
    /// written, such as a file's count of lines).
    WarnedCounted(&'static [&'static str], fn(&Path) -> Vec<String>),
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

/// Replace line `n` (1-based) of a file's bytes with `f(line)` (its line feed kept).
fn edit_line_bytes(bytes: &[u8], n: usize, f: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut f = Some(f);
    for (i, l) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        if i + 1 == n {
            let (body, nl) = l.strip_suffix(b"\n").map_or((l, &b""[..]), |b| (b, &b"\n"[..]));
            out.extend((f.take().expect("one line"))(body));
            out.extend(nl);
        } else {
            out.extend(l);
        }
    }
    out
}

/// Insert `what` at the start of cell `cell` (1-based) of a CSV line without quotes.
fn into_cell(line: &[u8], cell: usize, what: &[u8]) -> Vec<u8> {
    let at = if cell == 1 { 0 } else { line.iter().enumerate().filter(|(_, &b)| b == b',').nth(cell - 2).unwrap().0 + 1 };
    [&line[..at], what, &line[at..]].concat()
}

/// `1234567` → `1,234,567`, as the commands print counts.
fn th(n: u64) -> String {
    let d = n.to_string();
    d.chars().enumerate().fold(String::new(), |mut s, (i, c)| {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            s.push(',');
        }
        s.push(c);
        s
    })
}

/// Physical lines of a file (the last may lack its line feed).
fn physical_lines(p: &Path) -> u64 {
    let b = std::fs::read(p).unwrap();
    b.iter().filter(|&&c| c == b'\n').count() as u64 + u64::from(b.last().is_some_and(|&c| c != b'\n'))
}

/// The account of `claims.csv` in the row's directory when `rejected` of its
/// lines are rejected and none is blank.
fn identity(d: &Path, rejected: u64) -> String {
    let l = physical_lines(&d.join("claims.csv"));
    format!("claims.csv: {} lines = 1 header + {} read + {} rejected + 0 blank", th(l), th(l - 1 - rejected), th(rejected))
}

/// `drgdip qc`'s summary and report for a `claims.csv` with `rejected` lines rejected.
fn qc_counts(d: &Path, rejected: u64) -> Vec<String> {
    let l = physical_lines(&d.join("claims.csv"));
    vec![
        identity(d, rejected),
        format!("records read (读入清单)        {}", th(l - 1 - rejected)),
        format!("records rejected (无法读取)    {}", th(rejected)),
        format!("of the {} records read", th(l - 1 - rejected)),
    ]
}

/// The 2025 settlement lists with an unterminated quote in cell 3 (region_id) of line 10.
fn unterminated(f: &Fixture, d: &Path) -> PathBuf {
    let p = d.join("claims.csv");
    let text = edit_line(&f.text(&f.claims(2025)), 10, |l| {
        let mut cells: Vec<String> = l.split(',').map(str::to_owned).collect();
        cells[2].insert(0, '"');
        cells.join(",")
    });
    std::fs::write(&p, text).unwrap();
    p
}

/// The first `n` records of the 2025 lists as JSON Lines (the synthetic CSV has no quotes).
fn jsonl(f: &Fixture, n: usize) -> Vec<String> {
    let text = f.text(&f.claims(2025));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .take(n)
        .map(|l| {
            let obj: serde_json::Map<String, serde_json::Value> =
                header.iter().zip(l.split(',')).map(|(k, v)| ((*k).to_owned(), v.into())).collect();
            serde_json::Value::Object(obj).to_string()
        })
        .collect()
}

const ROWS: &[Row] = &[
    // ------------------------------------------------------------ readers
    Row {
        name: "unterminated quote in line 10: only that record is rejected, the rest read",
        run: |f, d| {
            let p = unterminated(f, d);
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(
            &["claims.csv", "line 10", "unterminated quote in column region_id (cell 3)", "rejected", "warning:"],
            |d| qc_counts(d, 1),
        ),
    },
    Row {
        name: "stray quotes in line 10 (text after a closing quote): only that record is rejected",
        run: |f, d| {
            let p = d.join("claims.csv");
            std::fs::write(&p, edit_line(&f.text(&f.claims(2025)), 10, |l| l.replacen(',', ",\"", 3))).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(
            &["claims.csv", "line 10: text after the closing quote in column institution_id (cell 2)"],
            |d| qc_counts(d, 1),
        ),
    },
    Row {
        name: "line break inside a quoted cell: both physical lines rejected, the rest read",
        run: |f, d| {
            let p = d.join("claims.csv");
            let text = edit_line(&f.text(&f.claims(2025)), 10, |l| {
                let mut cells: Vec<String> = l.split(',').map(str::to_owned).collect();
                cells[16] = format!("\"{}\n{}\"", cells[16], cells[16]);
                cells.join(",")
            });
            std::fs::write(&p, text).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(
            &["claims.csv", "line 10: unterminated quote in column department (cell 17)", "line break inside a quoted cell", "line 11: 29 cells"],
            |d| qc_counts(d, 2),
        ),
    },
    Row {
        name: "too many cells in a line",
        run: |f, d| {
            let p = d.join("claims.csv");
            std::fs::write(&p, edit_line(&f.text(&f.claims(2025)), 10, |l| format!("{l},extra"))).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(&["claims.csv", "line 10: 46 cells where the header has 45"], |d| qc_counts(d, 1)),
    },
    Row {
        name: "too few cells in a line",
        run: |f, d| {
            let p = d.join("claims.csv");
            std::fs::write(&p, edit_line(&f.text(&f.claims(2025)), 10, |l| l[..l.rfind(',').unwrap()].to_owned())).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(&["claims.csv", "line 10: 44 cells where the header has 45"], |d| qc_counts(d, 1)),
    },
    Row {
        name: "bytes that are not UTF-8 in one line of a UTF-8 file",
        run: |f, d| {
            let p = d.join("claims.csv");
            let bytes = std::fs::read(f.claims(2025)).unwrap();
            std::fs::write(&p, edit_line_bytes(&bytes, 10, |l| into_cell(l, 17, b"\xff\xfe"))).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(
            &["claims.csv", "line 10, column department: bytes that are not valid text"],
            |d| qc_counts(d, 1),
        ),
    },
    Row {
        name: "a GBK file with one line that is not GBK",
        run: |f, d| {
            let p = d.join("claims.csv");
            let text = f.text(&f.claims(2025));
            let (gbk, _, bad) = encoding_rs::GBK.encode(&text);
            assert!(!bad);
            std::fs::write(&p, edit_line_bytes(&gbk, 10, |l| into_cell(l, 17, b"\xff"))).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(
            &["claims.csv", "line 10, column department: bytes that are not valid text"],
            |d| qc_counts(d, 1),
        ),
    },
    Row {
        name: "a JSON Lines file with one broken line",
        run: |f, d| {
            let p = d.join("claims.jsonl");
            let mut lines = jsonl(f, 50);
            let cut = lines[9].find("\"age\"").unwrap();
            lines[9].truncate(cut);
            std::fs::write(&p, lines.join("\n") + "\n").unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::Warned(&[
            "claims.jsonl: 50 lines = 49 read + 1 rejected + 0 blank",
            "claims.jsonl: line 10: not a JSON object",
        ]),
    },
    Row {
        name: "an XLSX sheet with a value right of the header in one row",
        run: |_, d| {
            let p = d.join("list.xlsx");
            let mut wb = rust_xlsxwriter::Workbook::new();
            let ws = wb.add_worksheet();
            for (c, h) in ["case_id", "institution_id", "sex", "age", "main_diagnosis", "total_cost"].iter().enumerate() {
                ws.write_string(0, c as u16, *h).unwrap();
            }
            for r in 1..=3u32 {
                ws.write_string(r, 0, format!("X{r}")).unwrap();
                ws.write_string(r, 1, "H0001").unwrap();
                ws.write_number(r, 2, 1.0).unwrap();
                ws.write_number(r, 3, 40.0).unwrap();
                ws.write_string(r, 4, "K35.800").unwrap();
                ws.write_number(r, 5, 1234.5).unwrap();
            }
            ws.write_string(2, 8, "stray").unwrap();
            wb.save(&p).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::Warned(&["list.xlsx: 4 rows = 1 header + 2 read + 1 rejected + 0 blank", "list.xlsx: line 3: 9 cells where the header has 6"]),
    },
    Row {
        name: "monitor indicators over a file with an unterminated quote: the identity and the rejected line",
        run: |f, d| {
            let p = unterminated(f, d);
            args(&[&"monitor", &"indicators", &"--cases", &p, &"--scheme", &f.scheme(), &"--institutions", &f.institutions(), &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(&["warning: ", "claims.csv: line 10: unterminated quote in column region_id"], |d| vec![identity(d, 1)]),
    },
    Row {
        name: "weights calibrate over a file with an unterminated quote: the identity and the rejected line",
        run: |f, d| {
            let p = unterminated(f, d);
            args(&[&"weights", &"calibrate", &"--cases", &p, &"--scheme", &f.scheme(), &"--out", &d.join("w.csv")])
        },
        expect: Expect::WarnedCounted(&["warning: ", "claims.csv: line 10: unterminated quote in column region_id"], |d| vec![identity(d, 1)]),
    },
    Row {
        name: "points over a file with an unterminated quote: the identity and the rejected line",
        run: |f, d| {
            let p = unterminated(f, d);
            args(&[
                &"points", &"--cases", &p, &"--scheme", &f.scheme(), &"--weights", &f.weights(), &"--institutions", &f.institutions(),
                &"--out", &d.join("p.csv"),
            ])
        },
        expect: Expect::WarnedCounted(&["warning: ", "claims.csv: line 10: unterminated quote in column region_id"], |d| vec![identity(d, 1)]),
    },
    Row {
        name: "drg group over a grouping-case file with an unterminated quote",
        run: |f, d| {
            let p = d.join("cases.csv");
            std::fs::write(&p, "case_id,sex,age,diagnoses,procedures\nA1,1,50,I63.900,\nA2,1,50,\"I63.900,\n\nA3,1,50,I63.900,\n").unwrap();
            args(&[&"drg", &"group", &"--scheme", &f.scheme(), &"--cases", &p, &"--out", &d.join("g.csv")])
        },
        expect: Expect::Warned(&[
            "cases.csv: 5 lines = 1 header + 2 read + 1 rejected + 1 blank",
            "cases.csv: line 3: unterminated quote in column diagnoses (cell 4)",
        ]),
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
        let (want_ok, texts, also) = match &row.expect {
            Expect::Refused(t) => (false, *t, Vec::new()),
            Expect::Warned(t) => (true, *t, Vec::new()),
            Expect::WarnedCounted(t, also) => (true, *t, also(&d)),
        };
        let stdout = String::from_utf8_lossy(&o.stdout);
        let mut missing: Vec<String> = texts.iter().filter(|t| !stderr.contains(**t)).map(|t| t.to_string()).collect();
        missing.extend(also.into_iter().filter(|t| !stderr.contains(t.as_str()) && !stdout.contains(t.as_str())));
        if o.status.success() != want_ok || !missing.is_empty() {
            failures.push(format!(
                "row {i} ({}): exit {:?}, wanted {}; missing {missing:?}\nstderr:\n{stderr}\nstdout:\n{stdout}",
                row.name,
                o.status.code(),
                if want_ok { "0 with a warning" } else { "an error" }
            ));
        }
    }
    eprintln!("{} rows, {} failed", ROWS.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
