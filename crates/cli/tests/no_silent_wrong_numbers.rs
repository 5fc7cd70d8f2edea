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
            .args(["synth", "--hospitals", "25", "--cases", "5000", "--years", "2024,2025", "--seed", "5", "--out"])
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
    /// Exit 0; stdout contains every text (the figure stated in the summary).
    Stated(&'static [&'static str]),
    /// As `Warned`, and stdout or stderr also contains every text the function
    /// makes from the row's directory (figures known once the inputs are
    /// written, such as a file's count of lines).
    WarnedCounted(&'static [&'static str], fn(&Path) -> Vec<String>),
}

/// A check of the figures a row's command wrote: Err says what is wrong.
type Check = fn(&Fixture, &Path, &str) -> Result<(), String>;

struct Row {
    name: &'static str,
    /// Writes the broken inputs into `dir` and returns the command's arguments.
    run: fn(&Fixture, &Path) -> Vec<OsString>,
    expect: Expect,
    /// Checks the outputs (dir, stdout) when the command succeeded.
    check: Option<Check>,
}

/// A CSV file as a header and rows of cells.
fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let h = r.headers().unwrap().iter().map(str::to_owned).collect();
    (h, r.records().map(|x| x.unwrap().iter().map(str::to_owned).collect()).collect())
}

fn csv_text(h: &[String], rows: &[Vec<String>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(h).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

/// The fixture's claims of `year` with `f` applied to the rows (header, rows).
fn edited_claims(f: &Fixture, year: u16, edit: impl FnOnce(&[String], &mut Vec<Vec<String>>)) -> String {
    let (h, mut rows) = table(&f.text(&f.claims(year)));
    edit(&h, &mut rows);
    csv_text(&h, &rows)
}

fn col(h: &[String], name: &str) -> usize {
    h.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"))
}

/// Fen of a yuan cell.
fn fen(s: &str) -> i64 {
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (y, f) = s.split_once('.').unwrap_or((s, "0"));
    let v = y.parse::<i64>().unwrap() * 100 + format!("{f:0<2}")[..2].parse::<i64>().unwrap();
    if neg { -v } else { v }
}

/// Arguments of `drgdip settle` over the fixture with `cases` as the year's lists.
fn settle_args(f: &Fixture, d: &Path, cases: &Path) -> Vec<OsString> {
    args(&[
        &"settle", &"--year", &"2025", &"--cases", &cases, &"--history-cases", &f.claims(2024), &"--scheme", &f.scheme(),
        &"--weights", &f.weights(), &"--institutions", &f.institutions(), &"--out", &d.join("out"),
    ])
}

/// Arguments of `drgdip points` over the fixture with `cases` as the year's lists.
fn points_args(f: &Fixture, d: &Path, cases: &[&Path]) -> Vec<OsString> {
    let mut a = args(&[&"points", &"--cases"]);
    a.extend(cases.iter().map(|c| c.as_os_str().to_os_string()));
    a.extend(args(&[
        &"--history-cases", &f.claims(2024), &"--scheme", &f.scheme(), &"--weights", &f.weights(),
        &"--institutions", &f.institutions(), &"--out", &d.join("points.csv"),
    ]));
    a
}

/// Σ total cost (fen) of the rows of annual.csv.
fn annual_cost(d: &Path) -> i64 {
    let (h, rows) = table(&std::fs::read_to_string(d.join("out/annual.csv")).unwrap());
    let c = col(&h, "total_cost");
    rows.iter().map(|r| fen(&r[c])).sum()
}

/// Σ total cost (fen) of a claims text, leaving out the case ids given.
fn claims_cost(text: &str, except: &[&str]) -> i64 {
    let (h, rows) = table(text);
    let (c, id) = (col(&h, "total_cost"), col(&h, "case_id"));
    rows.iter().filter(|r| !except.contains(&r[id].as_str())).map(|r| fen(&r[c])).sum()
}

fn first_case(f: &Fixture, year: u16) -> String {
    let (h, rows) = table(&f.text(&f.claims(year)));
    rows[0][col(&h, "case_id")].clone()
}

/// The withheld.csv of a settle run lists `case` and the annual totals leave its cost out.
fn withheld_and_unpaid(f: &Fixture, d: &Path, case: &str) -> Result<(), String> {
    let w = std::fs::read_to_string(d.join("out/withheld.csv")).map_err(|e| e.to_string())?;
    if !w.contains(case) {
        return Err(format!("withheld.csv does not list {case}:\n{w}"));
    }
    let cases = std::fs::read_to_string(d.join("claims.csv")).unwrap();
    let _ = f;
    let (got, want) = (annual_cost(d), claims_cost(&cases, &[case]));
    if got != want {
        return Err(format!("annual total cost {got} fen, the payable cases cost {want}"));
    }
    Ok(())
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
        check: None,
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
        check: None,
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
            &["claims.csv", "line 10: unterminated quote in column department (cell 17)", "line break inside a quoted cell", "line 11: 30 cells"],
            |d| qc_counts(d, 2),
        ),
        check: None,
    },
    Row {
        name: "too many cells in a line",
        run: |f, d| {
            let p = d.join("claims.csv");
            std::fs::write(&p, edit_line(&f.text(&f.claims(2025)), 10, |l| format!("{l},extra"))).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(&["claims.csv", "line 10: 47 cells where the header has 46"], |d| qc_counts(d, 1)),
        check: None,
    },
    Row {
        name: "too few cells in a line",
        run: |f, d| {
            let p = d.join("claims.csv");
            std::fs::write(&p, edit_line(&f.text(&f.claims(2025)), 10, |l| l[..l.rfind(',').unwrap()].to_owned())).unwrap();
            args(&[&"qc", &p, &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(&["claims.csv", "line 10: 45 cells where the header has 46"], |d| qc_counts(d, 1)),
        check: None,
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
        check: None,
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
        check: None,
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
        check: None,
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
        check: None,
    },
    Row {
        name: "monitor indicators over a file with an unterminated quote: the identity and the rejected line",
        run: |f, d| {
            let p = unterminated(f, d);
            args(&[&"monitor", &"indicators", &"--cases", &p, &"--scheme", &f.scheme(), &"--institutions", &f.institutions(), &"--out", &d.join("out")])
        },
        expect: Expect::WarnedCounted(&["warning: ", "claims.csv: line 10: unterminated quote in column region_id"], |d| vec![identity(d, 1)]),
        check: None,
    },
    Row {
        name: "weights calibrate over a file with an unterminated quote: the identity and the rejected line",
        run: |f, d| {
            let p = unterminated(f, d);
            args(&[&"weights", &"calibrate", &"--cases", &p, &"--scheme", &f.scheme(), &"--out", &d.join("w.csv")])
        },
        expect: Expect::WarnedCounted(&["warning: ", "claims.csv: line 10: unterminated quote in column region_id"], |d| vec![identity(d, 1)]),
        check: None,
    },
    Row {
        name: "points over a file with an unterminated quote: the identity and the rejected line",
        run: |f, d| {
            let p = unterminated(f, d);
            args(&[
                &"points", &"--cases", &p, &"--scheme", &f.scheme(), &"--weights", &f.weights(), &"--institutions", &f.institutions(),
                &"--history-cases", &f.claims(2024), &"--out", &d.join("p.csv"),
            ])
        },
        expect: Expect::WarnedCounted(&["warning: ", "claims.csv: line 10: unterminated quote in column region_id"], |d| vec![identity(d, 1)]),
        check: None,
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
        check: None,
    },

    Row {
        name: "qc of a file that does not exist (with a good one): the good one is checked, the command fails",
        run: |f, d| args(&[&"qc", &f.claims(2025), &d.join("missing.csv"), &"--out", &d.join("out")]),
        expect: Expect::Refused(&["1 of 2 files could not be read at all", "missing.csv"]),
        check: None,
    },
    // ------------------------------------------------------------ payment
    Row {
        name: "a DIP library built from the same file twice: each case once",
        run: |f, d| {
            let p = f.claims(2024);
            args(&[&"dip", &"build", &"--cases", &p, &p, &"--min-cases", &"5", &"--out", &d.join("lib")])
        },
        expect: Expect::Warned(&["given more than once", "later version is used"]),
        check: Some(|f, d, _| {
            let r = std::fs::read_to_string(d.join("lib/build_report.json")).map_err(|e| e.to_string())?;
            let v: serde_json::Value = serde_json::from_str(&r).map_err(|e| e.to_string())?;
            let records = table(&f.text(&f.claims(2024))).1.len() as u64;
            (v["cases_read"].as_u64() == Some(records)).then_some(()).ok_or(format!("cases_read {} for {records} records", v["cases_read"]))
        }),
    },
    Row {
        name: "weights calibrated from the same file given twice: each case once, the same weights as from one file",
        run: |f, d| {
            let p = f.claims(2024);
            args(&[&"weights", &"calibrate", &"--cases", &p, &p, &"--scheme", &f.scheme(), &"--out", &d.join("w.csv")])
        },
        expect: Expect::Warned(&["given more than once", "later version is used", "claims-2024.csv line 2 and"]),
        check: Some(|f, d, _| {
            let (a, b) = (f.text(&f.weights()), std::fs::read_to_string(d.join("w.csv")).unwrap());
            if a != b {
                return Err("the weights differ from one copy's".into());
            }
            // And every case of the file counts (once): Σ cases of the groups = the records.
            let (h, rows) = table(&b);
            let n: u64 = rows.iter().map(|r| r[col(&h, "cases")].parse::<u64>().unwrap_or(0)).sum();
            let records = table(&f.text(&f.claims(2024))).1.len() as u64;
            (n == records).then_some(()).ok_or(format!("{n} cases in the weights for {records} records"))
        }),
    },
    Row {
        name: "monitor indicators over the same file twice: each case once",
        run: |f, d| {
            let p = f.claims(2025);
            args(&[&"monitor", &"indicators", &"--cases", &p, &p, &"--scheme", &f.scheme(), &"--out", &d.join("ind")])
        },
        expect: Expect::Warned(&["given more than once", "later version is used"]),
        check: Some(|f, d, _| {
            let n = table(&f.text(&f.claims(2025))).1.len();
            let t = std::fs::read_to_string(d.join("ind/indicators.csv")).map_err(|e| e.to_string())?;
            let (h, rows) = table(&t);
            let r = rows.iter().find(|r| r[col(&h, "dimension")] == "region" && r[col(&h, "period")] == "2025").ok_or("no region row of 2025")?;
            (r[col(&h, "cases")] == n.to_string()).then_some(()).ok_or(format!("region cases {} for {n}", r[col(&h, "cases")]))
        }),
    },
    Row {
        name: "QC-failed claim (categories ¥x, claim ¥999,999.99: M001/M002) is priced but withheld, not paid",
        run: |f, d| {
            let text = edited_claims(f, 2025, |h, rows| rows[0][col(h, "total_cost")] = "999999.99".into());
            let p = d.join("claims.csv");
            std::fs::write(&p, text).unwrap();
            settle_args(f, d, &p)
        },
        expect: Expect::Warned(&["withheld by QC", "M001", "M002"]),
        check: Some(|f, d, _| withheld_and_unpaid(f, d, &first_case(f, 2025))),
    },
    Row {
        name: "discharged before admission (L001): withheld, not paid",
        run: |f, d| {
            let text = edited_claims(f, 2025, |h, rows| {
                let (a, b) = (col(h, "admitted_at"), col(h, "discharged_at"));
                let adm = rows[0][a].clone();
                rows[0][a] = rows[0][b].clone();
                rows[0][b] = adm;
            });
            let p = d.join("claims.csv");
            std::fs::write(&p, text).unwrap();
            settle_args(f, d, &p)
        },
        expect: Expect::Warned(&["withheld by QC", "L001"]),
        check: Some(|f, d, _| withheld_and_unpaid(f, d, &first_case(f, 2025))),
    },
    Row {
        name: "fund paid above the total cost (M006): withheld",
        run: |f, d| {
            let text = edited_claims(f, 2025, |h, rows| {
                let t = rows[0][col(h, "total_cost")].clone();
                rows[0][col(h, "fund_paid")] = format!("{}.00", fen(&t) / 100 + 1000);
            });
            let p = d.join("claims.csv");
            std::fs::write(&p, text).unwrap();
            settle_args(f, d, &p)
        },
        expect: Expect::Warned(&["withheld by QC", "M006"]),
        check: Some(|f, d, _| withheld_and_unpaid(f, d, &first_case(f, 2025))),
    },
    Row {
        name: "non-numeric total cost: withheld, never priced at 0 points",
        run: |f, d| {
            let text = edited_claims(f, 2025, |h, rows| rows[0][col(h, "total_cost")] = "12,3x".into());
            let p = d.join("claims.csv");
            std::fs::write(&p, text).unwrap();
            points_args(f, d, &[&p])
        },
        expect: Expect::Warned(&["withheld by QC"]),
        check: Some(|f, d, _| {
            let (h, rows) = table(&std::fs::read_to_string(d.join("points.csv")).unwrap());
            let case = first_case(f, 2025);
            let r = rows.iter().find(|r| r[0] == case).ok_or("case missing")?;
            (r[col(&h, "payable")] == "0" && !r[col(&h, "withheld_reason")].is_empty())
                .then_some(())
                .ok_or(format!("{r:?}"))
        }),
    },
    Row {
        name: "sub-fen cost (123.456): withheld",
        run: |f, d| {
            let text = edited_claims(f, 2025, |h, rows| rows[0][col(h, "bed_fee")] = "123.456".into());
            let p = d.join("claims.csv");
            std::fs::write(&p, text).unwrap();
            points_args(f, d, &[&p])
        },
        expect: Expect::Warned(&["withheld by QC"]),
        check: None,
    },
    Row {
        name: "the same file given twice: every case counted once, the duplicates reported",
        run: |f, d| {
            let p = f.claims(2025);
            points_args(f, d, &[&p, &p])
        },
        expect: Expect::Warned(&["given more than once", "later version is used", "line 2 and"]),
        check: Some(|f, d, _| {
            let n = table(&f.text(&f.claims(2025))).1.len();
            let got = table(&std::fs::read_to_string(d.join("points.csv")).unwrap()).1.len();
            (got == n).then_some(()).ok_or(format!("{got} rows for {n} cases"))
        }),
    },
    Row {
        name: "a corrected version after a QC-failed one: the correction is paid, the earlier dropped",
        run: |f, d| {
            let bad = edited_claims(f, 2025, |h, rows| rows[0][col(h, "total_cost")] = "999999.99".into());
            let (h, rows) = table(&f.text(&f.claims(2025)));
            let fix = csv_text(&h, &rows[..1]);
            let (a, b) = (d.join("claims.csv"), d.join("corrected.csv"));
            std::fs::write(&a, bad).unwrap();
            std::fs::write(&b, fix).unwrap();
            points_args(f, d, &[&a, &b])
        },
        expect: Expect::Warned(&["given more than once"]),
        check: Some(|f, d, _| {
            let (h, rows) = table(&std::fs::read_to_string(d.join("points.csv")).unwrap());
            let case = first_case(f, 2025);
            let mine: Vec<_> = rows.iter().filter(|r| r[0] == case).collect();
            (mine.len() == 1 && mine[0][col(&h, "payable")] == "1").then_some(()).ok_or(format!("{mine:?}"))
        }),
    },
    Row {
        name: "an institution missing from institutions.csv is refused, not priced with coefficient 1",
        run: |f, d| {
            let (h, rows) = table(&f.text(&f.institutions()));
            let gone = rows[0][0].clone();
            std::fs::write(d.join("gone.txt"), &gone).unwrap();
            let p = d.join("institutions.csv");
            std::fs::write(&p, csv_text(&h, &rows[1..])).unwrap();
            let mut a = points_args(f, d, &[&f.claims(2025)]);
            let i = a.iter().position(|x| x == "--institutions").unwrap();
            a[i + 1] = p.into_os_string();
            a
        },
        expect: Expect::Refused(&["not in the institutions table", "first at", "claims-2024.csv line"]),
        check: None,
    },
    Row {
        name: "a special-case id that matches nothing is refused with the id",
        run: |f, d| {
            let p = d.join("special.csv");
            std::fs::write(&p, "case_id\nNO-SUCH-CASE\n").unwrap();
            let mut a = points_args(f, d, &[&f.claims(2025)]);
            a.extend(args(&[&"--special-cases", &p]));
            a
        },
        expect: Expect::Refused(&["special.csv", "match no case", "NO-SUCH-CASE"]),
        check: None,
    },
    Row {
        name: "special cases above the quota (5 % of an institution's discharges in a quarter) are refused",
        run: |f, d| {
            let (h, rows) = table(&f.text(&f.claims(2025)));
            let (inst, id) = (col(&h, "institution_id"), col(&h, "case_id"));
            let first = rows[0][inst].clone();
            let ids: Vec<&str> = rows.iter().filter(|r| r[inst] == first).map(|r| r[id].as_str()).collect();
            let p = d.join("special.csv");
            std::fs::write(&p, format!("case_id\n{}\n", ids.join("\n"))).unwrap();
            let mut a = points_args(f, d, &[&f.claims(2025)]);
            a.extend(args(&[&"--special-cases", &p]));
            a
        },
        expect: Expect::Refused(&["above the quota", "special cases, quota"]),
        check: None,
    },
    Row {
        name: "a derived conversion rate without the history year is refused, not 100 yuan per point",
        run: |f, d| {
            let mut a = points_args(f, d, &[&f.claims(2025)]);
            let i = a.iter().position(|x| x == "--history-cases").unwrap();
            a.drain(i..i + 2);
            a
        },
        expect: Expect::Refused(&["fee_for_service.yuan_per_point", "derived", "--history-cases"]),
        check: None,
    },
    Row {
        name: "fee-for-service and per-diem points convert at the region's derived rate",
        run: |f, d| points_args(f, d, &[&f.claims(2025)]),
        expect: Expect::Stated(&["conversion", "yuan per point = history cost"]),
        check: Some(|_, d, _| {
            let (h, rows) = table(&std::fs::read_to_string(d.join("points.csv")).unwrap());
            let (m, r) = (col(&h, "method"), col(&h, "yuan_per_point"));
            let converted: Vec<&Vec<String>> = rows.iter().filter(|x| x[m] == "fee_for_service" || x[m] == "per_diem").collect();
            if converted.is_empty() {
                return Err("no fee-for-service or per-diem case in the fixture".into());
            }
            for x in converted {
                let rate: f64 = x[r].parse().map_err(|_| format!("no rate: {x:?}"))?;
                if (rate - 100.0).abs() < 1e-9 || rate < 50.0 {
                    return Err(format!("rate {rate}: {x:?}"));
                }
            }
            Ok(())
        }),
    },
    Row {
        name: "cases of an insurance type without history are refused, not settled at point value 0",
        run: |f, d| {
            let (h, rows) = table(&f.text(&f.claims(2024)));
            let ins = col(&h, "insurance_type");
            let emp: Vec<Vec<String>> = rows.into_iter().filter(|r| r[ins] == "职工").collect();
            let hist = d.join("history.csv");
            std::fs::write(&hist, csv_text(&h, &emp)).unwrap();
            let mut a = settle_args(f, d, &f.claims(2025));
            let i = a.iter().position(|x| x == "--history-cases").unwrap();
            a[i + 1] = hist.into_os_string();
            a
        },
        expect: Expect::Refused(&["居民/住院", "no budget line"]),
        check: None,
    },
    Row {
        name: "every yuan of the budget accounted for; outpatient sub-budgets shown as not settled by points",
        run: |f, d| {
            let hist = d.join("outpatient.csv");
            let (_, rows) = table(&f.text(&f.institutions()));
            std::fs::write(&hist, format!("institution_id,insurance,category,total_cost,fund_paid\n{},职工,普通门急诊,1000000.00,600000.00\n", rows[0][0])).unwrap();
            let mut a = settle_args(f, d, &f.claims(2025));
            a.extend(args(&[&"--history", &hist]));
            a
        },
        expect: Expect::Stated(&["职工 budget identity", "OK", "carried over"]),
        check: Some(|_, d, _| {
            let t = std::fs::read_to_string(d.join("out/identity.csv")).unwrap();
            let (h, rows) = table(&t);
            let (item, note) = (col(&h, "item"), col(&h, "note"));
            let carried = rows.iter().find(|r| r[item] == "carried_over" && r[0] == "职工").ok_or("no carried_over row")?;
            if !carried[note].contains("outpatient") {
                return Err(format!("{carried:?}"));
            }
            rows.iter().filter(|r| r[item] == "check").all(|r| r[note].starts_with("OK")).then_some(()).ok_or(t.clone())
        }),
    },
    Row {
        name: "overrun sharing capped by the risk reserve and the fund budget, the cap stated",
        run: |f, d| settle_args(f, d, &f.claims(2025)),
        expect: Expect::Stated(&["budget identity", "overrun sharing capped"]),
        check: Some(|_, d, _| {
            let (h, rows) = table(&std::fs::read_to_string(d.join("out/identity.csv")).unwrap());
            let (item, amount) = (col(&h, "item"), col(&h, "amount"));
            for ins in ["职工", "居民"] {
                let get = |name: &str| rows.iter().find(|r| r[0] == ins && r[item] == name).map(|r| fen(&r[amount]));
                let (paid, cap, reserve) = (get("overrun_paid"), get("overrun_cap"), get("reserves_kept"));
                match (paid, cap, reserve) {
                    (Some(p), Some(c), Some(k)) if p <= c && k >= 0 => {}
                    other => return Err(format!("{ins}: {other:?}")),
                }
            }
            Ok(())
        }),
    },
    Row {
        name: "off-site cases: the statement says they are settled here and how many",
        run: |f, d| settle_args(f, d, &f.claims(2025)),
        expect: Expect::Stated(&["off-site cases:", "offsite.cases = include"]),
        check: None,
    },
    Row {
        name: "--history rows of alliance members are credited to the lead",
        run: |f, d| {
            let (h, rows) = table(&f.text(&f.institutions()));
            let (id, lead) = (col(&h, "institution_id"), col(&h, "alliance_lead_id"));
            let member = rows.iter().find(|r| !r[lead].is_empty() && r[lead] != r[id]).expect("the fixture has an alliance member");
            std::fs::write(d.join("lead.txt"), &member[lead]).unwrap();
            let hist = d.join("history.csv");
            std::fs::write(
                &hist,
                format!(
                    "institution_id,insurance,category,total_cost,fund_paid\n{m},职工,住院,12000000.00,8400000.00\n{m},居民,住院,6000000.00,3600000.00\n",
                    m = member[id]
                ),
            )
            .unwrap();
            let mut a = settle_args(f, d, &f.claims(2025));
            let i = a.iter().position(|x| x == "--history-cases").unwrap();
            a.drain(i..i + 2);
            a.extend(args(&[&"--history", &hist, &"--points-params", &d.join("fixed.toml")]));
            std::fs::write(
                d.join("fixed.toml"),
                points::DEFAULT_PARAMS
                    .replace("yuan_per_point = \"derived\"", "yuan_per_point = \"150\"")
                    .replace("yuan_per_day = \"derived\", min_los", "yuan_per_day = \"350.00\", min_los"),
            )
            .unwrap();
            a
        },
        expect: Expect::Stated(&["budget identity"]),
        check: Some(|_, d, _| {
            let lead = std::fs::read_to_string(d.join("lead.txt")).unwrap();
            let (h, rows) = table(&std::fs::read_to_string(d.join("out/hospitals.csv")).unwrap());
            let pf = col(&h, "prepayment_fund");
            let r = rows.iter().find(|r| r[0] == lead).ok_or(format!("lead {lead} not settled"))?;
            // One month of the member's 8,400,000.00 + 3,600,000.00 fund, credited to the lead.
            (fen(&r[pf]) == 100_000_000).then_some(()).ok_or(format!("{r:?}"))
        }),
    },
    // ---- parameters and master data
    // Settlement parameters (`drgdip budget` loads and uses them; `settle` the same way).
    Row {
        name: "cost_growth = -1.5: the growth factor would be negative",
        run: |f, d| budget_with(f, d, &settle_params("cost_growth = \"0.020\"", "cost_growth = \"-1.5\"")),
        expect: Expect::Refused(&["settle.toml", "budget.employee.cost_growth = -1.5 (line 26): must be above -1 (the growth factor 1+r must be positive)"]),
        check: None,
    },
    Row {
        name: "negative growth beyond the documented bound (-60 %)",
        run: |f, d| budget_with(f, d, &settle_params("insured_growth = \"-0.010\"", "insured_growth = \"-0.6\"")),
        expect: Expect::Refused(&["settle.toml", "budget.resident.insured_growth = -0.6 (line 36): must lie in [-0.5, 1]"]),
        check: None,
    },
    Row {
        name: "one negative reserve would add money",
        run: |f, d| budget_with(f, d, &settle_params("offsite = \"0.030\"", "offsite = \"-0.030\"")),
        expect: Expect::Refused(&["settle.toml", "budget.reserves.offsite = -0.030 (line 44): must lie in [0, 1)"]),
        check: None,
    },
    Row {
        name: "reserves summing to 1 or more",
        run: |f, d| budget_with(f, d, &settle_params("sporadic = \"0.010\"", "sporadic = \"0.950\"")),
        expect: Expect::Refused(&["settle.toml", "budget.reserves = 0.020 + 0.030 + 0.950 = 1.000 (line 42): the reserves together must stay below 1"]),
        check: None,
    },
    Row {
        name: "quarter shares not summing to 1",
        run: |f, d| budget_with(f, d, &settle_params("[\"0.25\", \"0.25\", \"0.25\", \"0.25\"]", "[\"0.25\", \"0.25\", \"0.25\", \"0.30\"]")),
        expect: Expect::Refused(&["settle.toml", "budget.quarter_shares = sum 1.05 (line 18): the four shares must sum to exactly 1"]),
        check: None,
    },
    Row {
        name: "mid-year adjustment for a line the history does not have (phantom line)",
        run: |f, d| budget_with(f, d, &with_adjustment("职工", "日间医疗", "500000.00")),
        expect: Expect::Refused(&["budget 2025 with the parameters", "settle.toml", "budget.adjustments[0] = 职工/日间医疗 500000.00: there is no budget line 职工/日间医疗"]),
        check: None,
    },
    Row {
        name: "mid-year adjustment larger than its line (negative budget)",
        run: |f, d| budget_with(f, d, &with_adjustment("居民", "住院", "-900000000.00")),
        expect: Expect::Refused(&["settle.toml", "budget.adjustments[0] = 居民/住院 -900000000.00: would take the line below zero"]),
        check: None,
    },
    Row {
        name: "negative fund-type share (was rescaled)",
        run: |f, d| budget_with(f, d, &settle_params("[\"统筹基金\", \"0.92\"], [\"大病保险\", \"0.05\"]", "[\"统筹基金\", \"1.02\"], [\"大病保险\", \"-0.05\"]")),
        expect: Expect::Refused(&["settle.toml", "fund_types.default[1].share = -0.05 (line 89): must lie in [0, 1]"]),
        check: None,
    },
    Row {
        name: "fund-type shares not summing to 1",
        run: |f, d| budget_with(f, d, &settle_params("[\"医疗救助\", \"0.03\"]", "[\"医疗救助\", \"0.04\"]")),
        expect: Expect::Refused(&["settle.toml", "fund_types.default = sum 1.01 (line 89): the proportions must sum to exactly 1"]),
        check: None,
    },
    Row {
        name: "deposit release scores not increasing",
        run: |f, d| budget_with(f, d, &settle_params("[[\"60\", \"0\"], [\"90\", \"1\"]]", "[[\"90\", \"0\"], [\"60\", \"1\"]]")),
        expect: Expect::Refused(&["settle.toml", "deposit.release[1].score = 60 (line 64): scores must increase"]),
        check: None,
    },
    Row {
        name: "unknown key at the top level of the settlement parameters",
        run: |f, d| budget_with(f, d, &settle_params("year = 2025", "year = 2025\nyaer = 2025")),
        expect: Expect::Refused(&["settle.toml", "yaer (line 8): unknown key"]),
        check: None,
    },
    Row {
        name: "unknown key in a nested table (typo of a growth rate)",
        run: |f, d| budget_with(f, d, &settle_params("price_index = \"0.010\"", "price_idx = \"0.010\"")),
        expect: Expect::Refused(&["settle.toml", "budget.employee.price_idx (line 27): unknown key"]),
        check: None,
    },
    // Points parameters.
    Row {
        name: "unknown key in the points parameters (outliers table)",
        run: |f, d| points_with(f, d, Some(&points_params("drg_low = \"0.4\"", "drg_low = \"0.4\"\ndrg_lo = \"0.3\"")), None, None),
        expect: Expect::Refused(&["points.toml", "outliers.drg_lo (line 45): unknown key"]),
        check: None,
    },
    Row {
        name: "coefficient 0",
        run: |f, d| points_with(f, d, Some(&points_params("\"二级\" = \"0.85\"", "\"二级\" = \"0\"")), None, None),
        expect: Expect::Refused(&["points.toml", "coefficients.by_level.二级 = 0 (line 26): must lie in (0, 3]"]),
        check: None,
    },
    Row {
        name: "a level of the institutions without a coefficient (was 1)",
        run: |f, d| points_with(f, d, Some(&points_params(", \"基层\" = \"0.80\"", "")), None, None),
        expect: Expect::Refused(&["points.toml with", "institutions.csv", "coefficients.by_level.基层: missing: institutions H0017, H0018, H0019 and 6 more have level \"基层\", which has no coefficient"]),
        check: None,
    },
    Row {
        name: "a coefficient override for an institution that does not exist",
        run: |f, d| points_with(f, d, Some(&points_params("overrides = {}", "overrides = { \"H0099\" = \"1.10\" }")), None, None),
        expect: Expect::Refused(&["points.toml with", "coefficients.overrides.H0099: names no institution"]),
        check: None,
    },
    Row {
        name: "institution missing from institutions.csv: points (was priced with coefficient 1)",
        run: |f, d| points_with(f, d, None, Some(&drop_line(&f.text(&f.institutions()), "H0003,")), None),
        expect: Expect::Refused(&["institutions.csv", "H0003 (", "not in"]),
        check: None,
    },
    Row {
        name: "institution missing from institutions.csv: settle",
        run: |f, d| settle_with(f, d, Some(&drop_line(&f.text(&f.institutions()), "H0003,")), &[]),
        expect: Expect::Refused(&["institutions.csv", "H0003 (", "not in"]),
        check: None,
    },
    Row {
        name: "no institutions table at all (every coefficient was 1)",
        run: |f, d| {
            let mut a = points_with(f, d, None, None, None);
            let i = a.iter().position(|x| x == "--institutions").unwrap();
            a.drain(i..i + 2);
            a
        },
        expect: Expect::Refused(&["required arguments were not provided", "--institutions <INSTITUTIONS>"]),
        check: None,
    },
    // Master data.
    Row {
        name: "duplicate institution id in institutions.csv",
        run: |f, d| points_with(f, d, None, Some(&edit_line(&f.text(&f.institutions()), 3, |l| l.replacen("H0002", "H0001", 1))), None),
        expect: Expect::Refused(&["institutions.csv line 3, column institution_id: H0001 repeats line 2"]),
        check: None,
    },
    Row {
        name: "unknown institution level",
        run: |f, d| points_with(f, d, None, Some(&edit_line(&f.text(&f.institutions()), 2, |l| l.replacen("三级", "三甲", 1))), None),
        expect: Expect::Refused(&["institutions.csv line 2, column level: \"三甲\" of H0001: must be one of 三级, 二级, 一级, 基层"]),
        check: None,
    },
    Row {
        name: "bad tcm flag",
        run: |f, d| points_with(f, d, None, Some(&set_cell(&f.text(&f.institutions()), 3, "tcm", "中医")), None),
        expect: Expect::Refused(&["institutions.csv line 3, column tcm: \"中医\" of H0002: must be 1 or 0"]),
        check: None,
    },
    Row {
        name: "alliance lead that does not exist",
        run: |f, d| points_with(f, d, None, Some(&set_cell(&f.text(&f.institutions()), 5, "alliance_lead_id", "H0099")), None),
        expect: Expect::Refused(&["institutions.csv line 5, column alliance_lead_id: H0099 (lead of H0004) is not in the table"]),
        check: None,
    },
    Row {
        name: "alliance lead that is the institution itself",
        run: |f, d| points_with(f, d, None, Some(&set_cell(&f.text(&f.institutions()), 5, "alliance_lead_id", "H0004")), None),
        expect: Expect::Refused(&["institutions.csv line 5, column alliance_lead_id: H0004 names itself as its alliance lead"]),
        check: None,
    },
    Row {
        name: "assessment score out of 0–100",
        run: |f, d| {
            let p = write(d, "scores.csv", "institution_id,score\nH0001,95\nH0002,120\n");
            settle_with(f, d, None, &[&"--scores", &p])
        },
        expect: Expect::Refused(&["scores.csv line 3, column score: 120 of H0002: must lie in 0–100"]),
        check: None,
    },
    Row {
        name: "assessment score for an institution not in the table",
        run: |f, d| {
            let p = write(d, "scores.csv", "institution_id,score\nH0001,95\nH0099,80\n");
            settle_with(f, d, None, &[&"--scores", &p])
        },
        expect: Expect::Refused(&["scores.csv line 3, column institution_id: H0099 is not in the institutions table"]),
        check: None,
    },
    Row {
        name: "assessment score given twice",
        run: |f, d| {
            let p = write(d, "scores.csv", "institution_id,score\nH0001,95\nH0001,60\n");
            settle_with(f, d, None, &[&"--scores", &p])
        },
        expect: Expect::Refused(&["scores.csv line 3, column institution_id: H0001 repeats line 2"]),
        check: None,
    },
    Row {
        name: "negative fund-type share in --fund-shares",
        run: |f, d| {
            let p = write(d, "shares.csv", "institution_id,fund_type,share\nH0001,统筹基金,1.05\nH0001,大病保险,-0.05\n");
            settle_with(f, d, None, &[&"--fund-shares", &p])
        },
        expect: Expect::Refused(&["shares.csv line 2, column share: 1.05 (统筹基金 of H0001): must lie in [0, 1]", "line 3, column share: -0.05"]),
        check: None,
    },
    Row {
        name: "fund-type shares of a hospital not summing to 1",
        run: |f, d| {
            let p = write(d, "shares.csv", "institution_id,fund_type,share\nH0001,统筹基金,0.90\nH0001,大病保险,0.05\n");
            settle_with(f, d, None, &[&"--fund-shares", &p])
        },
        expect: Expect::Refused(&["shares.csv line 2, column share: the shares of H0001 (lines 2, 3) sum to 0.95, not 1"]),
        check: None,
    },
    Row {
        name: "history: fund paid above the total cost",
        run: |f, d| history_with(f, d, "H0001,职工,普通门急诊,1000.00,1200.00\n"),
        expect: Expect::Refused(&["history.csv line 2, column fund_paid: 1200.00 is above total_cost 1000.00"]),
        check: None,
    },
    Row {
        name: "history: negative total",
        run: |f, d| history_with(f, d, "H0001,职工,普通门急诊,-1000.00,0\n"),
        expect: Expect::Refused(&["history.csv line 2, column total_cost: -1000.00: must not be negative"]),
        check: None,
    },
    Row {
        name: "history: the same line twice (counted twice)",
        run: |f, d| history_with(f, d, "H0001,职工,普通门急诊,1000.00,500.00\nH0001,职工,普通门急诊,1000.00,500.00\n"),
        expect: Expect::Refused(&["history.csv line 3: H0001 职工/普通门急诊 repeats", "history.csv line 2"]),
        check: None,
    },
    Row {
        name: "history: a 住院 row also totalled from --history-cases (counted twice)",
        run: |f, d| history_with(f, d, "H0001,职工,住院,1000.00,500.00\n"),
        expect: Expect::Refused(&["history.csv line 2: H0001 职工/住院 is also totalled from --history-cases"]),
        check: None,
    },
    Row {
        name: "history: unknown insurance type and category",
        run: |f, d| history_with(f, d, "H0001,新农合,门诊,1000.00,500.00\n"),
        expect: Expect::Refused(&["history.csv line 2, column insurance: \"新农合\": must be 职工 or 居民", "line 2, column category: \"门诊\""]),
        check: None,
    },
    Row {
        name: "history: institution not in the roster",
        run: |f, d| history_with(f, d, "H0099,职工,普通门急诊,1000.00,500.00\n"),
        expect: Expect::Refused(&["history.csv line 2, column institution_id: H0099 is not in the institutions table"]),
        check: None,
    },
    Row {
        name: "weights: the same group twice",
        run: |f, d| {
            let w = f.text(&f.weights());
            let dup = w.lines().nth(1).unwrap().to_owned();
            points_with(f, d, None, None, Some(&format!("{w}{dup}\n")))
        },
        expect: Expect::Refused(&["weights.csv: weights line", "repeats line 2 (one row per group)"]),
        check: None,
    },
    Row {
        name: "weights: negative RW",
        run: |f, d| points_with(f, d, None, None, Some(&set_cell(&f.text(&f.weights()), 2, "rw", "-0.3016"))),
        expect: Expect::Refused(&["weights.csv: weights line 2: code", "rw -0.3016: must not be negative"]),
        check: None,
    },
    Row {
        name: "weights: RW 0 for a group with data (its cases would become ungroupable)",
        run: |f, d| points_with(f, d, None, None, Some(&set_cell(&f.text(&f.weights()), 2, "rw", "0"))),
        expect: Expect::Refused(&["weights.csv: weights line 2: code", "rw 0 with mean_cost"]),
        check: None,
    },
    Row {
        name: "weights: a group the scheme does not have",
        run: |f, d| points_with(f, d, None, None, Some(&set_cell(&f.text(&f.weights()), 2, "code", "ZZ99"))),
        expect: Expect::Refused(&["weights.csv line 2: group ZZ99 is not a DRG of the scheme"]),
        check: None,
    },
    Row {
        name: "detector parameters: unknown key",
        run: |f, d| {
            let p = write(d, "detect.json", "{ \"upcoding\": { \"min_case\": 20 } }");
            args(&[&"monitor", &"detect", &"--cases", &f.claims(2024), &f.claims(2025), &"--scheme", &f.scheme(), &"--params", &p, &"--out", &d.join("out")])
        },
        expect: Expect::Refused(&["detect.json", "upcoding.min_case (line 1): unknown key"]),
        check: None,
    },
];

// ---- helpers of the parameters and master-data rows

/// Write `text` to `dir/name`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The built-in settlement parameters with `from` replaced by `to`.
fn settle_params(from: &str, to: &str) -> String {
    assert!(settle::DEFAULT_PARAMS.contains(from), "{from}");
    settle::DEFAULT_PARAMS.replacen(from, to, 1)
}

/// The built-in points parameters with `from` replaced by `to`.
fn points_params(from: &str, to: &str) -> String {
    assert!(points::DEFAULT_PARAMS.contains(from), "{from}");
    points::DEFAULT_PARAMS.replacen(from, to, 1)
}

/// The built-in settlement parameters with one mid-year adjustment.
fn with_adjustment(insurance: &str, category: &str, amount: &str) -> String {
    format!(
        "{}\n[[budget.adjustments]]\ninsurance = \"{insurance}\"\ncategory = \"{category}\"\namount = \"{amount}\"\nfrom_quarter = 3\nreason = \"test\"\n",
        settle::DEFAULT_PARAMS
    )
}

/// Text without the lines that start with `prefix`.
fn drop_line(text: &str, prefix: &str) -> String {
    text.split_inclusive('\n').filter(|l| !l.starts_with(prefix)).collect()
}

/// Set the cell of `column` in line `n` (1-based; simple CSV without quotes).
fn set_cell(text: &str, n: usize, column: &str, value: &str) -> String {
    let col = text.lines().next().unwrap().split(',').position(|h| h == column).unwrap_or_else(|| panic!("no column {column}"));
    edit_line(text, n, |l| {
        let mut cells: Vec<&str> = l.split(',').collect();
        cells[col] = value;
        cells.join(",")
    })
}

/// `drgdip budget` with settlement parameters `params`.
fn budget_with(f: &Fixture, d: &Path, params: &str) -> Vec<OsString> {
    let p = write(d, "settle.toml", params);
    args(&[&"budget", &"--params", &p, &"--history-cases", &f.claims(2024), &"--institutions", &f.institutions(), &"--out", &d.join("out")])
}

/// `drgdip budget` with a `--history` table of `rows` besides last year's cases.
fn history_with(f: &Fixture, d: &Path, rows: &str) -> Vec<OsString> {
    let h = write(d, "history.csv", &format!("institution_id,insurance,category,total_cost,fund_paid\n{rows}"));
    args(&[&"budget", &"--history", &h, &"--history-cases", &f.claims(2024), &"--institutions", &f.institutions(), &"--out", &d.join("out")])
}

/// `drgdip points` with optional replacement points parameters, institutions and weights.
fn points_with(f: &Fixture, d: &Path, params: Option<&str>, institutions: Option<&str>, weights: Option<&str>) -> Vec<OsString> {
    let inst = institutions.map_or_else(|| f.institutions(), |t| write(d, "institutions.csv", t));
    let w = weights.map_or_else(|| f.weights(), |t| write(d, "weights.csv", t));
    let mut a = args(&[&"points", &"--cases", &f.claims(2025), &"--scheme", &f.scheme(), &"--weights", &w, &"--institutions", &inst, &"--out", &d.join("points.csv")]);
    if let Some(t) = params {
        a.extend(args(&[&"--params", &write(d, "points.toml", t)]));
    }
    a
}

/// `drgdip settle` with optional replacement institutions and extra arguments.
fn settle_with(f: &Fixture, d: &Path, institutions: Option<&str>, extra: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    let inst = institutions.map_or_else(|| f.institutions(), |t| write(d, "institutions.csv", t));
    let mut a = args(&[
        &"settle", &"--year", &"2025", &"--cases", &f.claims(2025), &"--history-cases", &f.claims(2024), &"--scheme", &f.scheme(),
        &"--weights", &f.weights(), &"--institutions", &inst, &"--out", &d.join("out"),
    ]);
    a.extend(args(extra));
    a
}

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
        let stdout = String::from_utf8_lossy(&o.stdout);
        let (want_ok, texts, hay, also) = match &row.expect {
            Expect::Refused(t) => (false, *t, &stderr, Vec::new()),
            Expect::Warned(t) => (true, *t, &stderr, Vec::new()),
            Expect::Stated(t) => (true, *t, &stdout, Vec::new()),
            Expect::WarnedCounted(t, also) => (true, *t, &stderr, also(&d)),
        };
        let mut missing: Vec<String> = texts.iter().filter(|t| !hay.contains(**t)).map(|t| t.to_string()).collect();
        missing.extend(also.into_iter().filter(|t| !stderr.contains(t.as_str()) && !stdout.contains(t.as_str())));
        let checked = match (row.check, o.status.success()) {
            (Some(c), true) => c(f, &d, &stdout),
            _ => Ok(()),
        };
        if o.status.success() != want_ok || !missing.is_empty() || checked.is_err() {
            failures.push(format!(
                "row {i} ({}): exit {:?}, wanted {}; missing {missing:?}; check {checked:?}\nstderr:\n{stderr}\nstdout:\n{stdout}",
                row.name,
                o.status.code(),
                if want_ok { "0 with a warning or statement" } else { "an error" }
            ));
        }
    }
    eprintln!("{} rows, {} failed", ROWS.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Kept for a look when a row fails; removed when every row holds.
    let _ = std::fs::remove_dir_all(&f.dir);
}
