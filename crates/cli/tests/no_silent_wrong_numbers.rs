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
    // ---- parameters and master data
    // Settlement parameters (`drgdip budget` loads and uses them; `settle` the same way).
    Row {
        name: "cost_growth = -1.5: the growth factor would be negative",
        run: |f, d| budget_with(f, d, &settle_params("cost_growth = \"0.020\"", "cost_growth = \"-1.5\"")),
        expect: Expect::Refused(&["settle.toml", "budget.employee.cost_growth = -1.5 (line 26): must be above -1 (the growth factor 1+r must be positive)"]),
    },
    Row {
        name: "negative growth beyond the documented bound (-60 %)",
        run: |f, d| budget_with(f, d, &settle_params("insured_growth = \"-0.010\"", "insured_growth = \"-0.6\"")),
        expect: Expect::Refused(&["settle.toml", "budget.resident.insured_growth = -0.6 (line 36): must lie in [-0.5, 1]"]),
    },
    Row {
        name: "one negative reserve would add money",
        run: |f, d| budget_with(f, d, &settle_params("offsite = \"0.030\"", "offsite = \"-0.030\"")),
        expect: Expect::Refused(&["settle.toml", "budget.reserves.offsite = -0.030 (line 44): must lie in [0, 1)"]),
    },
    Row {
        name: "reserves summing to 1 or more",
        run: |f, d| budget_with(f, d, &settle_params("sporadic = \"0.010\"", "sporadic = \"0.950\"")),
        expect: Expect::Refused(&["settle.toml", "budget.reserves = 0.020 + 0.030 + 0.950 = 1.000 (line 42): the reserves together must stay below 1"]),
    },
    Row {
        name: "quarter shares not summing to 1",
        run: |f, d| budget_with(f, d, &settle_params("[\"0.25\", \"0.25\", \"0.25\", \"0.25\"]", "[\"0.25\", \"0.25\", \"0.25\", \"0.30\"]")),
        expect: Expect::Refused(&["settle.toml", "budget.quarter_shares = sum 1.05 (line 18): the four shares must sum to exactly 1"]),
    },
    Row {
        name: "mid-year adjustment for a line the history does not have (phantom line)",
        run: |f, d| budget_with(f, d, &with_adjustment("职工", "日间医疗", "500000.00")),
        expect: Expect::Refused(&["budget 2025 with the parameters", "settle.toml", "budget.adjustments[0] = 职工/日间医疗 500000.00: there is no budget line 职工/日间医疗"]),
    },
    Row {
        name: "mid-year adjustment larger than its line (negative budget)",
        run: |f, d| budget_with(f, d, &with_adjustment("居民", "住院", "-900000000.00")),
        expect: Expect::Refused(&["settle.toml", "budget.adjustments[0] = 居民/住院 -900000000.00: would take the line below zero"]),
    },
    Row {
        name: "negative fund-type share (was rescaled)",
        run: |f, d| budget_with(f, d, &settle_params("[\"统筹基金\", \"0.92\"], [\"大病保险\", \"0.05\"]", "[\"统筹基金\", \"1.02\"], [\"大病保险\", \"-0.05\"]")),
        expect: Expect::Refused(&["settle.toml", "fund_types.default[1].share = -0.05 (line 89): must lie in [0, 1]"]),
    },
    Row {
        name: "fund-type shares not summing to 1",
        run: |f, d| budget_with(f, d, &settle_params("[\"医疗救助\", \"0.03\"]", "[\"医疗救助\", \"0.04\"]")),
        expect: Expect::Refused(&["settle.toml", "fund_types.default = sum 1.01 (line 89): the proportions must sum to exactly 1"]),
    },
    Row {
        name: "deposit release scores not increasing",
        run: |f, d| budget_with(f, d, &settle_params("[[\"60\", \"0\"], [\"90\", \"1\"]]", "[[\"90\", \"0\"], [\"60\", \"1\"]]")),
        expect: Expect::Refused(&["settle.toml", "deposit.release[1].score = 60 (line 64): scores must increase"]),
    },
    Row {
        name: "unknown key at the top level of the settlement parameters",
        run: |f, d| budget_with(f, d, &settle_params("year = 2025", "year = 2025\nyaer = 2025")),
        expect: Expect::Refused(&["settle.toml", "yaer (line 8): unknown key"]),
    },
    Row {
        name: "unknown key in a nested table (typo of a growth rate)",
        run: |f, d| budget_with(f, d, &settle_params("price_index = \"0.010\"", "price_idx = \"0.010\"")),
        expect: Expect::Refused(&["settle.toml", "budget.employee.price_idx (line 27): unknown key"]),
    },
    // Points parameters.
    Row {
        name: "unknown key in the points parameters (outliers table)",
        run: |f, d| points_with(f, d, Some(&points_params("drg_low = \"0.4\"", "drg_low = \"0.4\"\ndrg_lo = \"0.3\"")), None, None),
        expect: Expect::Refused(&["points.toml", "outliers.drg_lo (line 45): unknown key"]),
    },
    Row {
        name: "coefficient 0",
        run: |f, d| points_with(f, d, Some(&points_params("\"二级\" = \"0.85\"", "\"二级\" = \"0\"")), None, None),
        expect: Expect::Refused(&["points.toml", "coefficients.by_level.二级 = 0 (line 26): must lie in (0, 3]"]),
    },
    Row {
        name: "a level of the institutions without a coefficient (was 1)",
        run: |f, d| points_with(f, d, Some(&points_params(", \"基层\" = \"0.80\"", "")), None, None),
        expect: Expect::Refused(&["points.toml with", "institutions.csv", "coefficients.by_level.基层: missing: institutions H0006, H0007, H0008 have level \"基层\""]),
    },
    Row {
        name: "a coefficient override for an institution that does not exist",
        run: |f, d| points_with(f, d, Some(&points_params("overrides = {}", "overrides = { \"H0099\" = \"1.10\" }")), None, None),
        expect: Expect::Refused(&["points.toml with", "coefficients.overrides.H0099: names no institution"]),
    },
    Row {
        name: "institution missing from institutions.csv: points (was priced with coefficient 1)",
        run: |f, d| points_with(f, d, None, Some(&drop_line(&f.text(&f.institutions()), "H0003,")), None),
        expect: Expect::Refused(&["institutions.csv", "H0003 (", "not in"]),
    },
    Row {
        name: "institution missing from institutions.csv: settle",
        run: |f, d| settle_with(f, d, Some(&drop_line(&f.text(&f.institutions()), "H0003,")), &[]),
        expect: Expect::Refused(&["institutions.csv", "H0003 (", "not in"]),
    },
    Row {
        name: "no institutions table at all (every coefficient was 1)",
        run: |f, d| {
            let mut a = points_with(f, d, None, None, None);
            let i = a.iter().position(|x| x == "--institutions").unwrap();
            a.drain(i..i + 2);
            a
        },
        expect: Expect::Refused(&["no --institutions", "no default coefficient"]),
    },
    // Master data.
    Row {
        name: "duplicate institution id in institutions.csv",
        run: |f, d| points_with(f, d, None, Some(&edit_line(&f.text(&f.institutions()), 3, |l| l.replacen("H0002", "H0001", 1))), None),
        expect: Expect::Refused(&["institutions.csv line 3, column institution_id: H0001 repeats line 2"]),
    },
    Row {
        name: "unknown institution level",
        run: |f, d| points_with(f, d, None, Some(&edit_line(&f.text(&f.institutions()), 2, |l| l.replacen("三级", "三甲", 1))), None),
        expect: Expect::Refused(&["institutions.csv line 2, column level: \"三甲\" of H0001: must be one of 三级, 二级, 一级, 基层"]),
    },
    Row {
        name: "bad tcm flag",
        run: |f, d| points_with(f, d, None, Some(&set_cell(&f.text(&f.institutions()), 3, "tcm", "中医")), None),
        expect: Expect::Refused(&["institutions.csv line 3, column tcm: \"中医\" of H0002: must be 1 or 0"]),
    },
    Row {
        name: "alliance lead that does not exist",
        run: |f, d| points_with(f, d, None, Some(&set_cell(&f.text(&f.institutions()), 5, "alliance_lead_id", "H0099")), None),
        expect: Expect::Refused(&["institutions.csv line 5, column alliance_lead_id: H0099 (lead of H0004) is not in the table"]),
    },
    Row {
        name: "alliance lead that is the institution itself",
        run: |f, d| points_with(f, d, None, Some(&set_cell(&f.text(&f.institutions()), 5, "alliance_lead_id", "H0004")), None),
        expect: Expect::Refused(&["institutions.csv line 5, column alliance_lead_id: H0004 names itself as its alliance lead"]),
    },
    Row {
        name: "assessment score out of 0–100",
        run: |f, d| {
            let p = write(d, "scores.csv", "institution_id,score\nH0001,95\nH0002,120\n");
            settle_with(f, d, None, &[&"--scores", &p])
        },
        expect: Expect::Refused(&["scores.csv line 3, column score: 120 of H0002: must lie in 0–100"]),
    },
    Row {
        name: "assessment score for an institution not in the table",
        run: |f, d| {
            let p = write(d, "scores.csv", "institution_id,score\nH0001,95\nH0099,80\n");
            settle_with(f, d, None, &[&"--scores", &p])
        },
        expect: Expect::Refused(&["scores.csv line 3, column institution_id: H0099 is not in the institutions table"]),
    },
    Row {
        name: "assessment score given twice",
        run: |f, d| {
            let p = write(d, "scores.csv", "institution_id,score\nH0001,95\nH0001,60\n");
            settle_with(f, d, None, &[&"--scores", &p])
        },
        expect: Expect::Refused(&["scores.csv line 3, column institution_id: H0001 repeats line 2"]),
    },
    Row {
        name: "negative fund-type share in --fund-shares",
        run: |f, d| {
            let p = write(d, "shares.csv", "institution_id,fund_type,share\nH0001,统筹基金,1.05\nH0001,大病保险,-0.05\n");
            settle_with(f, d, None, &[&"--fund-shares", &p])
        },
        expect: Expect::Refused(&["shares.csv line 2, column share: 1.05 (统筹基金 of H0001): must lie in [0, 1]", "line 3, column share: -0.05"]),
    },
    Row {
        name: "fund-type shares of a hospital not summing to 1",
        run: |f, d| {
            let p = write(d, "shares.csv", "institution_id,fund_type,share\nH0001,统筹基金,0.90\nH0001,大病保险,0.05\n");
            settle_with(f, d, None, &[&"--fund-shares", &p])
        },
        expect: Expect::Refused(&["shares.csv line 2, column share: the shares of H0001 (lines 2, 3) sum to 0.95, not 1"]),
    },
    Row {
        name: "history: fund paid above the total cost",
        run: |f, d| history_with(f, d, "H0001,职工,普通门急诊,1000.00,1200.00\n"),
        expect: Expect::Refused(&["history.csv line 2, column fund_paid: 1200.00 is above total_cost 1000.00"]),
    },
    Row {
        name: "history: negative total",
        run: |f, d| history_with(f, d, "H0001,职工,普通门急诊,-1000.00,0\n"),
        expect: Expect::Refused(&["history.csv line 2, column total_cost: -1000.00: must not be negative"]),
    },
    Row {
        name: "history: the same line twice (counted twice)",
        run: |f, d| history_with(f, d, "H0001,职工,普通门急诊,1000.00,500.00\nH0001,职工,普通门急诊,1000.00,500.00\n"),
        expect: Expect::Refused(&["history.csv line 3: H0001 职工/普通门急诊 repeats", "history.csv line 2"]),
    },
    Row {
        name: "history: a 住院 row also totalled from --history-cases (counted twice)",
        run: |f, d| history_with(f, d, "H0001,职工,住院,1000.00,500.00\n"),
        expect: Expect::Refused(&["history.csv line 2: H0001 职工/住院 is also totalled from --history-cases"]),
    },
    Row {
        name: "history: unknown insurance type and category",
        run: |f, d| history_with(f, d, "H0001,新农合,门诊,1000.00,500.00\n"),
        expect: Expect::Refused(&["history.csv line 2, column insurance: \"新农合\": must be 职工 or 居民", "line 2, column category: \"门诊\""]),
    },
    Row {
        name: "history: institution not in the roster",
        run: |f, d| history_with(f, d, "H0099,职工,普通门急诊,1000.00,500.00\n"),
        expect: Expect::Refused(&["history.csv line 2, column institution_id: H0099 is not in the institutions table"]),
    },
    Row {
        name: "weights: the same group twice",
        run: |f, d| {
            let w = f.text(&f.weights());
            let dup = w.lines().nth(1).unwrap().to_owned();
            points_with(f, d, None, None, Some(&format!("{w}{dup}\n")))
        },
        expect: Expect::Refused(&["weights.csv: weights line", "repeats line 2 (one row per group)"]),
    },
    Row {
        name: "weights: negative RW",
        run: |f, d| points_with(f, d, None, None, Some(&set_cell(&f.text(&f.weights()), 2, "rw", "-0.3016"))),
        expect: Expect::Refused(&["weights.csv: weights line 2: code", "rw -0.3016: must not be negative"]),
    },
    Row {
        name: "weights: RW 0 for a group with data (its cases would become ungroupable)",
        run: |f, d| points_with(f, d, None, None, Some(&set_cell(&f.text(&f.weights()), 2, "rw", "0"))),
        expect: Expect::Refused(&["weights.csv: weights line 2: code", "rw 0 with mean_cost"]),
    },
    Row {
        name: "weights: a group the scheme does not have",
        run: |f, d| points_with(f, d, None, None, Some(&set_cell(&f.text(&f.weights()), 2, "code", "ZZ99"))),
        expect: Expect::Refused(&["weights.csv line 2: group ZZ99 is not a DRG of the scheme"]),
    },
    Row {
        name: "detector parameters: unknown key",
        run: |f, d| {
            let p = write(d, "detect.json", "{ \"upcoding\": { \"min_case\": 20 } }");
            args(&[&"monitor", &"detect", &"--cases", &f.claims(2024), &f.claims(2025), &"--scheme", &f.scheme(), &"--params", &p, &"--out", &d.join("out")])
        },
        expect: Expect::Refused(&["detect.json", "upcoding.min_case (line 1): unknown key"]),
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
