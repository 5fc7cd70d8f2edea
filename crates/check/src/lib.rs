//! Checking parameter files, configurations and master-data tables when they are
//! loaded (issue 13, "nothing silently wrong"): every problem names where it is (the
//! key path of a parameter, with its line when the source text is known, or the file,
//! line and column of a table) and the reason, and a file's problems are collected
//! rather than stopping at the first.
//!
//! * [`Problem`]: one located problem; [`Problems`]: a collector with range helpers;
//! * [`Interval`]: an allowed range, printed as `[0, 1)`, `(0, 3]`, `above -1`;
//! * [`Invalid`]: the error of a file or configuration that cannot be used;
//! * [`toml_problem`]: a TOML syntax, type or unknown-key error as a located problem;
//! * [`locate`]: the line of a key path in a TOML text.
//!
//! Pure: no IO.

use std::fmt;

use rust_decimal::Decimal;

/// One problem: where (a key path such as `budget.employee.cost_growth`, or
/// `budget.adjustments[0].amount`, or a column of a table) and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The key path (parameters) or `column` (tables).
    pub key: String,
    /// The offending value as written, when there is one.
    pub value: Option<String>,
    /// 1-based line in the source, when known.
    pub line: Option<usize>,
    /// What is wrong, and what is allowed.
    pub reason: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, value: Option<String>, reason: impl Into<String>) -> Problem {
        Problem { key: key.into(), value, line: None, reason: reason.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)?;
        if let Some(v) = &self.value {
            write!(f, " = {v}")?;
        }
        if let Some(l) = self.line {
            write!(f, " (line {l})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A file or configuration that cannot be used: what it is and every problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    /// What was checked, e.g. "points parameters", "settlement parameters", "budget".
    pub what: &'static str,
    pub problems: Vec<Problem>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => write!(f, "{}: {one}", self.what),
            many => {
                write!(f, "{}: {} problems", self.what, many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// An allowed range of a decimal parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Lower bound and whether it is allowed.
    pub lo: Option<(Decimal, bool)>,
    /// Upper bound and whether it is allowed.
    pub hi: Option<(Decimal, bool)>,
}

impl Interval {
    /// `[lo, hi]`
    pub fn closed(lo: Decimal, hi: Decimal) -> Interval {
        Interval { lo: Some((lo, true)), hi: Some((hi, true)) }
    }
    /// `[lo, hi)`
    pub fn closed_open(lo: Decimal, hi: Decimal) -> Interval {
        Interval { lo: Some((lo, true)), hi: Some((hi, false)) }
    }
    /// `(lo, hi]`
    pub fn open_closed(lo: Decimal, hi: Decimal) -> Interval {
        Interval { lo: Some((lo, false)), hi: Some((hi, true)) }
    }
    /// `(lo, hi)`
    pub fn open(lo: Decimal, hi: Decimal) -> Interval {
        Interval { lo: Some((lo, false)), hi: Some((hi, false)) }
    }
    /// Above `lo`.
    pub fn above(lo: Decimal) -> Interval {
        Interval { lo: Some((lo, false)), hi: None }
    }
    /// At least `lo`.
    pub fn at_least(lo: Decimal) -> Interval {
        Interval { lo: Some((lo, true)), hi: None }
    }

    pub fn contains(&self, v: Decimal) -> bool {
        let lo_ok = match self.lo {
            None => true,
            Some((l, true)) => v >= l,
            Some((l, false)) => v > l,
        };
        let hi_ok = match self.hi {
            None => true,
            Some((h, true)) => v <= h,
            Some((h, false)) => v < h,
        };
        lo_ok && hi_ok
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.lo, self.hi) {
            (Some((l, li)), Some((h, hi))) => write!(
                f,
                "{}{}, {}{}",
                if li { '[' } else { '(' },
                l.normalize(),
                h.normalize(),
                if hi { ']' } else { ')' }
            ),
            (Some((l, true)), None) => write!(f, "at least {}", l.normalize()),
            (Some((l, false)), None) => write!(f, "above {}", l.normalize()),
            (None, Some((h, true))) => write!(f, "at most {}", h.normalize()),
            (None, Some((h, false))) => write!(f, "below {}", h.normalize()),
            (None, None) => f.write_str("any value"),
        }
    }
}

/// A decimal literal, for bounds in code: `dec("0.5")`.
pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("decimal literal {s:?}: {e}"))
}

/// Collects the problems of one file.
#[derive(Clone, Debug, Default)]
pub struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    pub fn new() -> Problems {
        Problems::default()
    }

    /// A problem without a value.
    pub fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.list.push(Problem::new(key, None, reason));
    }

    /// A problem with the offending value.
    pub fn bad(&mut self, key: impl Into<String>, value: impl fmt::Display, reason: impl Into<String>) {
        self.list.push(Problem::new(key, Some(value.to_string()), reason));
    }

    /// `bad` unless `ok`.
    pub fn ensure(&mut self, ok: bool, key: impl Into<String>, value: impl fmt::Display, reason: impl Into<String>) {
        if !ok {
            self.bad(key, value, reason);
        }
    }

    /// The value must lie in `iv`; `why` (may be empty) is added to the reason.
    pub fn range(&mut self, key: impl Into<String>, v: Decimal, iv: Interval, why: &str) {
        if !iv.contains(v) {
            let how = match (iv.lo, iv.hi) {
                (Some(_), Some(_)) => format!("must lie in {iv}"),
                _ => format!("must be {iv}"),
            };
            let reason = if why.is_empty() { how } else { format!("{how} ({why})") };
            self.bad(key, v, reason);
        }
    }

    /// A floating-point value must be finite and lie in `iv`.
    pub fn range_f64(&mut self, key: impl Into<String>, v: f64, iv: Interval, why: &str) {
        match Decimal::try_from(v) {
            Ok(d) if iv.contains(d) => {}
            Ok(_) => {
                let how = match (iv.lo, iv.hi) {
                    (Some(_), Some(_)) => format!("must lie in {iv}"),
                    _ => format!("must be {iv}"),
                };
                self.bad(key, v, if why.is_empty() { how } else { format!("{how} ({why})") });
            }
            Err(_) => self.bad(key, v, "must be a finite number"),
        }
    }

    /// A decimal with at most `places` decimal places.
    pub fn places(&mut self, key: impl Into<String>, v: Decimal, places: u32, what: &str) {
        if v.normalize().scale() > places {
            self.bad(key, v, format!("at most {places} decimal places ({what})"));
        }
    }

    /// A text that must not be empty (after trimming).
    pub fn nonempty(&mut self, key: impl Into<String>, s: &str) {
        if s.trim().is_empty() {
            self.bad(key, format!("{s:?}"), "must not be empty");
        }
    }

    /// An integer in `lo..=hi`.
    pub fn int_range<T: PartialOrd + fmt::Display + Copy>(&mut self, key: impl Into<String>, v: T, lo: T, hi: T, why: &str) {
        if v < lo || v > hi {
            let how = format!("must lie in {lo}–{hi}");
            self.bad(key, v, if why.is_empty() { how } else { format!("{how} ({why})") });
        }
    }

    pub fn extend(&mut self, more: impl IntoIterator<Item = Problem>) {
        self.list.extend(more);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Fill in the line of each problem from the TOML `src` it was found in.
    pub fn locate(&mut self, src: &str) {
        for p in &mut self.list {
            if p.line.is_none() {
                p.line = locate(src, &p.key);
            }
        }
    }

    /// Ok when nothing was found, else the problems as an [`Invalid`] of `what`.
    pub fn finish(self, what: &'static str) -> Result<(), Invalid> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(Invalid { what, problems: self.list })
        }
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.list
    }
}

/// Check that `names` are unique: each repeated name is a problem at `key(index)`.
pub fn unique<'a>(p: &mut Problems, names: impl IntoIterator<Item = &'a str>, key: impl Fn(usize) -> String) {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (i, n) in names.into_iter().enumerate() {
        if let Some((_, first)) = seen.iter().find(|(s, _)| *s == n) {
            p.bad(key(i), format!("{n:?}"), format!("repeats {}", key(*first)));
        } else {
            seen.push((n, i));
        }
    }
}

// ------------------------------------------------------------------ TOML locations

/// One segment of a key path: name and optional array index.
fn segments(path: &str) -> Vec<(&str, Option<usize>)> {
    path.split('.')
        .map(|s| match s.find('[') {
            Some(i) => (&s[..i], s[i + 1..].trim_end_matches(']').parse().ok()),
            None => (s, None),
        })
        .collect()
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(s)
}

/// The key paths a TOML text defines, line by line (best effort, no full parse):
/// `(line, path)` for every table header and every `key =` line, with
/// array-of-tables headers numbered (`budget.adjustments[1]`); `true` for a header.
fn paths(src: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut depth = 0i32; // open brackets of a multi-line value
    for (i, raw) in src.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if depth == 0 && line.starts_with('[') {
            let array = line.starts_with("[[");
            let name = line.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            let name: Vec<&str> = name.split('.').map(unquote).collect();
            let name = name.join(".");
            table = if array {
                let n = match counts.iter_mut().find(|(k, _)| *k == name) {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        counts.push((name.clone(), 0));
                        0
                    }
                };
                format!("{name}[{n}]")
            } else {
                name
            };
            out.push((i + 1, table.clone(), true));
            continue;
        }
        if depth == 0 {
            if let Some(eq) = line.find('=') {
                let key: Vec<&str> = line[..eq].split('.').map(unquote).collect();
                let key = key.join(".");
                let full = if table.is_empty() { key } else { format!("{table}.{key}") };
                out.push((i + 1, full, false));
            }
        }
        for c in line.chars() {
            match c {
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                _ => {}
            }
        }
        depth = depth.max(0);
    }
    out
}

/// How many leading segments of `want` the defined path `have` matches (0: none, or
/// `have` is not a prefix). A plain segment matches an indexed one of the same name
/// (an inline array: the line of the array).
fn matching(have: &str, want: &[(&str, Option<usize>)]) -> usize {
    let have = segments(have);
    if have.len() > want.len() {
        return 0;
    }
    for (h, w) in have.iter().zip(want) {
        if h.0 != w.0 || (h.1.is_some() && h.1 != w.1) {
            return 0;
        }
    }
    have.len()
}

/// The line of `key` (a path such as `budget.employee.cost_growth`,
/// `budget.adjustments[0].amount`, `coefficients.by_level.三级`) in the TOML `src`:
/// the line of the longest defined path that leads to it.
pub fn locate(src: &str, key: &str) -> Option<usize> {
    let want = segments(key);
    let mut best: Option<(usize, usize)> = None;
    for (line, path, _) in paths(src) {
        let m = matching(&path, &want);
        if m > 0 && best.is_none_or(|(bm, _)| m > bm) {
            best = Some((m, line));
        }
    }
    best.map(|(_, l)| l)
}

/// The line of byte `offset` of `src`, the key path defined at or before it (the
/// key of the line or of the enclosing multi-line value) and the table it is in.
fn path_at(src: &str, offset: usize) -> (usize, String, String) {
    let line = src[..offset.min(src.len())].matches('\n').count() + 1;
    let before: Vec<(usize, String, bool)> = paths(src).into_iter().take_while(|(l, _, _)| *l <= line).collect();
    let path = before.last().map(|(_, p, _)| p.clone()).unwrap_or_default();
    let table = before.iter().rev().find(|(_, _, t)| *t).map(|(_, p, _)| p.clone()).unwrap_or_default();
    (line, path, table)
}

/// A TOML syntax, type, missing- or unknown-key error as a [`Problem`]: the key path
/// (for an unknown key, the table and the key), the line and the parser's message.
pub fn toml_problem(src: &str, e: &toml::de::Error) -> Problem {
    let msg = e.message().trim().to_owned();
    let Some(span) = e.span() else {
        return Problem::new("(file)", None, msg);
    };
    let (line, mut path, table) = path_at(src, span.start);
    // The path of the line is that of a key or of a table header.
    let field = |prefix: &str| {
        msg.strip_prefix(prefix)
            .and_then(|r| r.split('`').next())
            .map(str::to_owned)
    };
    if let Some(f) = field("unknown field `") {
        // Reported at the key itself: when the line defines `….f` (a key or a table
        // header), its parent is the table; else (a key inside an inline table of a
        // multi-line array) the enclosing path is.
        let parent = match path.rsplit_once('.') {
            Some((t, k)) if k == f => t.to_owned(),
            None if path == f => String::new(),
            _ => path.clone(),
        };
        path = if parent.is_empty() { f } else { format!("{parent}.{f}") };
        let expected = msg.split_once(", expected").map(|(_, r)| format!("; expected{r}")).unwrap_or_default();
        let mut p = Problem::new(path, None, format!("unknown key{expected}"));
        p.line = Some(line);
        return p;
    }
    if let Some(f) = field("missing field `") {
        path = if table.is_empty() { f } else { format!("{table}.{f}") };
        let mut p = Problem::new(path, None, "missing (every parameter must be given)");
        p.line = Some(line);
        return p;
    }
    let mut p = Problem::new(if path.is_empty() { "(file)".to_owned() } else { path }, None, msg);
    p.line = Some(line);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = r#"region = "x"
year = 2025

[budget]
quarter_shares = ["0.25", "0.25",
  "0.25", "0.25"]

[budget.employee]
cost_growth = "0.02"   # a comment

[[budget.adjustments]]
amount = "1"

[[budget.adjustments]]
amount = "2"

[outliers]
drg_high = [
  { rw_max = "1", k = "3" },
  { k = "1.5" },
]
drg_low = "0.4"
"#;

    #[test]
    fn keys_are_located() {
        for (key, line) in [
            ("year", Some(2)),
            ("budget.quarter_shares", Some(5)),
            ("budget.quarter_shares[3]", Some(5)),
            ("budget.employee.cost_growth", Some(9)),
            ("budget.employee", Some(8)),
            ("budget.adjustments[0].amount", Some(12)),
            ("budget.adjustments[1].amount", Some(15)),
            ("outliers.drg_high[1].k", Some(18)),
            ("outliers.drg_low", Some(22)),
            ("nothing.here", None),
        ] {
            assert_eq!(locate(SRC, key), line, "{key}");
        }
    }

    #[test]
    fn intervals_print_and_contain() {
        for (iv, text, inside, outside) in [
            (Interval::closed_open(dec("0"), dec("1")), "[0, 1)", "0", "1"),
            (Interval::open_closed(dec("0"), dec("3")), "(0, 3]", "3", "0"),
            (Interval::above(dec("-1")), "above -1", "-0.99", "-1"),
            (Interval::at_least(dec("1")), "at least 1", "1", "0.9"),
            (Interval::closed(dec("-0.5"), dec("1")), "[-0.5, 1]", "-0.5", "1.01"),
        ] {
            assert_eq!(iv.to_string(), text);
            assert!(iv.contains(dec(inside)), "{text} {inside}");
            assert!(!iv.contains(dec(outside)), "{text} {outside}");
        }
    }

    #[test]
    fn problems_collect_and_print() {
        let mut p = Problems::new();
        p.range("budget.employee.cost_growth", dec("-1.5"), Interval::above(dec("-1")), "the growth factor 1+r must be positive");
        p.range("budget.employee.price_index", dec("0.01"), Interval::above(dec("-1")), "");
        p.nonempty("region", " ");
        p.places("amount", dec("1.005"), 2, "money is in fen");
        p.places("amount", dec("1.500"), 2, "money is in fen");
        p.range_f64("z", 0.5, Interval::closed(dec("0"), dec("50")), "");
        unique(&mut p, ["a", "b", "a"], |i| format!("names[{i}]"));
        p.locate(SRC);
        let e = p.finish("settlement parameters").unwrap_err();
        assert_eq!(e.problems.len(), 4, "{e}");
        assert_eq!(
            e.problems[0].to_string(),
            "budget.employee.cost_growth = -1.5 (line 9): must be above -1 (the growth factor 1+r must be positive)"
        );
        assert_eq!(e.problems[3].to_string(), "names[2] = \"a\": repeats names[0]");
        assert!(e.to_string().starts_with("settlement parameters: 4 problems\n  - budget.employee"), "{e}");
        let one = Invalid { what: "x", problems: vec![Problem::new("k", None, "why")] };
        assert_eq!(one.to_string(), "x: k: why");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Band {
        k: String,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outliers {
        drg_high: Vec<Band>,
        drg_low: String,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Top {
        year: u16,
        outliers: Outliers,
    }

    #[test]
    fn toml_errors_name_the_key_and_line() {
        for (src, want) in [
            ("year = 2025\nyeer = 1\n[outliers]\ndrg_high = []\ndrg_low = \"1\"\n", "yeer (line 2): unknown key; expected"),
            ("year = 2025\n[outliers]\ndrg_high = []\ndrg_low = \"1\"\ndrg_lo = \"1\"\n", "outliers.drg_lo (line 5): unknown key"),
            ("year = 2025\n[outliers]\ndrg_high = [\n  { k = \"1\", kk = 1 },\n]\ndrg_low = \"1\"\n", "outliers.drg_high.kk (line 4): unknown key"),
            ("year = 2025\n[outliers]\ndrg_high = []\n", "outliers.drg_low (line 2): missing"),
            ("year = \"2025\"\n[outliers]\ndrg_high = []\ndrg_low = \"1\"\n", "year (line 1): "),
        ] {
            let e = toml::from_str::<Top>(src).unwrap_err();
            let p = toml_problem(src, &e).to_string();
            assert!(p.starts_with(want), "{src:?}: {p}");
        }
    }
}
