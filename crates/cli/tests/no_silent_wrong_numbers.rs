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
        check: None,
    },

    // ------------------------------------------------------------ payment
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
            std::fs::write(d.join("fixed.toml"), points::DEFAULT_PARAMS.replace("yuan_per_point = \"derived\"", "yuan_per_point = \"150\"")).unwrap();
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
        let stdout = String::from_utf8_lossy(&o.stdout);
        let (want_ok, texts, hay) = match &row.expect {
            Expect::Refused(t) => (false, *t, &stderr),
            Expect::Warned(t) => (true, *t, &stderr),
            Expect::Stated(t) => (true, *t, &stdout),
        };
        let missing: Vec<&&str> = texts.iter().filter(|t| !hay.contains(**t)).collect();
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
}
