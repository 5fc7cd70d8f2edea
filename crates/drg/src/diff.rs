//! Differences between two schemes: groups added, removed, renamed or moved, codes moved
//! between ADRGs, CC/MCC and exclusion changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::scheme::{Cond, Scheme};

/// A DRG whose name changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// DRG code.
    pub code: String,
    /// Old name.
    pub from: String,
    /// New name.
    pub to: String,
}

/// A code whose set of ADRGs (through the ADRGs' lists and proc tags) changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeMove {
    /// The code (diagnosis or procedure).
    pub code: String,
    /// ADRGs listing it in the old scheme.
    pub from: Vec<String>,
    /// ADRGs listing it in the new scheme.
    pub to: Vec<String>,
}

/// How a secondary diagnosis counts: `MCC(table)`, `CC(table)` or not at all.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Complication {
    /// Not a CC or MCC.
    None,
    /// A CC with its exclusion table.
    Cc(String),
    /// An MCC with its exclusion table.
    Mcc(String),
}

/// A code whose CC/MCC class or exclusion table changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplicationChange {
    /// Diagnosis code.
    pub code: String,
    /// Old class.
    pub from: Complication,
    /// New class.
    pub to: Complication,
}

/// Everything that differs between two schemes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemeDiff {
    /// MDCs only in the new scheme.
    pub mdcs_added: Vec<String>,
    /// MDCs only in the old scheme.
    pub mdcs_removed: Vec<String>,
    /// MDCs whose entry condition changed.
    pub mdc_conditions_changed: Vec<String>,
    /// Whether the MDC evaluation order changed (for MDCs in both).
    pub mdc_order_changed: bool,
    /// ADRGs only in the new scheme (`MDC/ADRG`).
    pub adrgs_added: Vec<String>,
    /// ADRGs only in the old scheme (`MDC/ADRG`).
    pub adrgs_removed: Vec<String>,
    /// ADRGs now under another MDC: (ADRG, old MDC, new MDC).
    pub adrgs_moved: Vec<(String, String, String)>,
    /// ADRGs whose entry condition changed.
    pub adrg_conditions_changed: Vec<String>,
    /// DRGs only in the new scheme: (code, name).
    pub drgs_added: Vec<(String, String)>,
    /// DRGs only in the old scheme: (code, name).
    pub drgs_removed: Vec<(String, String)>,
    /// DRGs whose name changed.
    pub drgs_renamed: Vec<Renamed>,
    /// DRGs whose rule or own condition changed: (code, old, new), each side the DRG's
    /// entries in order (a code may have several entries, e.g. in CHS-DRG 2.0).
    pub drg_rules_changed: Vec<(String, String, String)>,
    /// Scheme-wide flags that changed: (flag, old, new).
    pub flags_changed: Vec<(String, bool, bool)>,
    /// Codes moved between ADRGs.
    pub codes_moved: Vec<CodeMove>,
    /// CC/MCC changes.
    pub complications_changed: Vec<ComplicationChange>,
    /// Main diagnoses whose exclusion table changed: (code, old, new).
    pub main_exclusions_changed: Vec<(String, Option<String>, Option<String>)>,
    /// Operating-room procedures added.
    pub surgical_added: Vec<String>,
    /// Operating-room procedures removed.
    pub surgical_removed: Vec<String>,
}

/// Codes need not be unique (CHS-DRG 2.0 repeats MDCM, PQY, MQY and some DRGs): every
/// map below holds all entries of a code, in scheme order.
fn drgs(s: &Scheme) -> BTreeMap<&str, (&str, String, String)> {
    let mut out: BTreeMap<&str, (&str, Vec<String>, Vec<String>)> = BTreeMap::new();
    for d in s.mdcs.iter().flat_map(|m| &m.adrgs).flat_map(|a| &a.drgs) {
        let e = out
            .entry(d.code.as_str())
            .or_insert_with(|| (s.drg_name(d), Vec::new(), Vec::new()));
        e.1.push(drg_entry(d, true));
        e.2.push(drg_entry(d, false));
    }
    out.into_iter()
        .map(|(k, (n, full, short))| (k, (n, full.join(" | "), short.join(" | "))))
        .collect()
}

/// A DRG entry as text: its rule, and its own condition and lists when it has one
/// (`full`: every code of the lists, else their sizes).
fn drg_entry(d: &crate::scheme::Drg, full: bool) -> String {
    if d.when == Cond::Const(true) {
        d.rule.name().to_string()
    } else {
        let lists: Vec<String> = d
            .lists
            .iter()
            .map(|(k, v)| {
                if full {
                    format!("{k}={}", v.join(","))
                } else {
                    format!("{k}: {} codes", v.len())
                }
            })
            .collect();
        if lists.is_empty() {
            format!("{} when {}", d.rule.name(), d.when)
        } else {
            format!("{} when {} [{}]", d.rule.name(), d.when, lists.join("; "))
        }
    }
}

fn adrgs(s: &Scheme) -> BTreeMap<&str, Vec<(&str, &crate::scheme::Adrg)>> {
    let mut out: BTreeMap<&str, Vec<(&str, &crate::scheme::Adrg)>> = BTreeMap::new();
    for m in &s.mdcs {
        for a in &m.adrgs {
            out.entry(a.code.as_str())
                .or_default()
                .push((m.code.as_str(), a));
        }
    }
    out
}

fn mdcs(s: &Scheme) -> BTreeMap<&str, Vec<&crate::scheme::Mdc>> {
    let mut out: BTreeMap<&str, Vec<&crate::scheme::Mdc>> = BTreeMap::new();
    for m in &s.mdcs {
        out.entry(m.code.as_str()).or_default().push(m);
    }
    out
}

fn code_adrgs(s: &Scheme) -> BTreeMap<&str, BTreeSet<&str>> {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for a in s.mdcs.iter().flat_map(|m| &m.adrgs) {
        let codes = a.lists.values().flatten().chain(a.proc_tags.keys());
        for c in codes {
            out.entry(&**c).or_default().insert(a.code.as_str());
        }
    }
    out
}

fn complication(s: &Scheme, code: &str) -> Complication {
    if let Some(t) = s.mcc.get(code) {
        Complication::Mcc(t.to_string())
    } else if let Some(t) = s.cc.get(code) {
        Complication::Cc(t.to_string())
    } else {
        Complication::None
    }
}

/// Compares two schemes.
pub fn diff(from: &Scheme, to: &Scheme) -> SchemeDiff {
    let mut d = SchemeDiff::default();
    let (mdc_from, mdc_to) = (mdcs(from), mdcs(to));
    d.mdcs_added = mdc_to
        .keys()
        .filter(|c| !mdc_from.contains_key(*c))
        .map(|c| c.to_string())
        .collect();
    d.mdcs_removed = mdc_from
        .keys()
        .filter(|c| !mdc_to.contains_key(*c))
        .map(|c| c.to_string())
        .collect();
    for (code, ms) in &mdc_from {
        if let Some(ns) = mdc_to.get(code) {
            let key = |v: &Vec<&crate::scheme::Mdc>| {
                v.iter()
                    .map(|m| (m.when.clone(), m.lists.clone(), m.trauma_sites.clone()))
                    .collect::<Vec<_>>()
            };
            if key(ms) != key(ns) {
                d.mdc_conditions_changed.push(code.to_string());
            }
        }
    }
    let common = |s: &Scheme, other: &BTreeMap<&str, _>| -> Vec<String> {
        s.mdcs
            .iter()
            .filter(|m| other.contains_key(m.code.as_str()))
            .map(|m| m.code.clone())
            .collect()
    };
    d.mdc_order_changed = common(from, &mdc_to) != common(to, &mdc_from);

    let (af, at) = (adrgs(from), adrgs(to));
    let mdcs_of = |v: &Vec<(&str, &crate::scheme::Adrg)>| {
        let mut m: Vec<String> = v.iter().map(|(m, _)| m.to_string()).collect();
        m.dedup();
        m.join("+")
    };
    for (code, entries) in &af {
        match at.get(code) {
            None => d.adrgs_removed.push(format!("{}/{code}", mdcs_of(entries))),
            Some(entries2) => {
                let (m1, m2) = (mdcs_of(entries), mdcs_of(entries2));
                if m1 != m2 {
                    d.adrgs_moved.push((code.to_string(), m1, m2));
                }
                let key = |v: &Vec<(&str, &crate::scheme::Adrg)>| {
                    v.iter()
                        .map(|(_, a)| {
                            (
                                a.when.clone(),
                                a.lists.clone(),
                                a.proc_tags.clone(),
                                a.ambiguous,
                                a.no_drg_falls_through,
                            )
                        })
                        .collect::<Vec<_>>()
                };
                if key(entries) != key(entries2) {
                    d.adrg_conditions_changed.push(code.to_string());
                }
            }
        }
    }
    for (code, entries) in &at {
        if !af.contains_key(code) {
            d.adrgs_added.push(format!("{}/{code}", mdcs_of(entries)));
        }
    }

    let (df, dt) = (drgs(from), drgs(to));
    for (code, (name, rule, shown)) in &df {
        match dt.get(code) {
            None => d.drgs_removed.push((code.to_string(), name.to_string())),
            Some((name2, rule2, shown2)) => {
                if name != name2 {
                    d.drgs_renamed.push(Renamed {
                        code: code.to_string(),
                        from: name.to_string(),
                        to: name2.to_string(),
                    });
                }
                if rule != rule2 {
                    let (a, b) = if shown != shown2 {
                        (shown.clone(), shown2.clone())
                    } else {
                        (format!("{shown} (list codes differ)"), shown2.clone())
                    };
                    d.drg_rules_changed.push((code.to_string(), a, b));
                }
            }
        }
    }
    for (code, (name, _, _)) in &dt {
        if !df.contains_key(code) {
            d.drgs_added.push((code.to_string(), name.to_string()));
        }
    }
    if from.retry_with_each_secondary_proc != to.retry_with_each_secondary_proc {
        d.flags_changed.push((
            "retry_ungroupable_with_each_secondary_proc".into(),
            from.retry_with_each_secondary_proc,
            to.retry_with_each_secondary_proc,
        ));
    }

    let (cf, ct) = (code_adrgs(from), code_adrgs(to));
    let empty = BTreeSet::new();
    let codes: BTreeSet<&str> = cf.keys().chain(ct.keys()).copied().collect();
    for c in codes {
        let (a, b) = (cf.get(c).unwrap_or(&empty), ct.get(c).unwrap_or(&empty));
        if a != b {
            d.codes_moved.push(CodeMove {
                code: c.to_string(),
                from: a.iter().map(|s| s.to_string()).collect(),
                to: b.iter().map(|s| s.to_string()).collect(),
            });
        }
    }

    let dx: BTreeSet<&str> = [from, to]
        .iter()
        .flat_map(|s| s.cc.keys().chain(s.mcc.keys()))
        .map(|c| &**c)
        .collect();
    for c in dx {
        let (a, b) = (complication(from, c), complication(to, c));
        if a != b {
            d.complications_changed.push(ComplicationChange {
                code: c.to_string(),
                from: a,
                to: b,
            });
        }
    }
    let mains: BTreeSet<&str> = from
        .main_dx_exclusion
        .keys()
        .chain(to.main_dx_exclusion.keys())
        .map(|c| &**c)
        .collect();
    for c in mains {
        let (a, b) = (from.main_dx_exclusion.get(c), to.main_dx_exclusion.get(c));
        if a != b {
            d.main_exclusions_changed.push((
                c.to_string(),
                a.map(|t| t.to_string()),
                b.map(|t| t.to_string()),
            ));
        }
    }
    let (sf, st): (BTreeSet<&str>, BTreeSet<&str>) = (
        from.surgical_procedures.iter().map(|c| &**c).collect(),
        to.surgical_procedures.iter().map(|c| &**c).collect(),
    );
    d.surgical_added = st.difference(&sf).map(|s| s.to_string()).collect();
    d.surgical_removed = sf.difference(&st).map(|s| s.to_string()).collect();
    d
}

impl SchemeDiff {
    /// Whether the schemes group identically by construction (nothing differs).
    pub fn is_empty(&self) -> bool {
        *self == SchemeDiff::default()
    }

    /// A text report; each section lists at most `limit` items.
    pub fn render(&self, limit: usize) -> String {
        let mut out = String::new();
        fn section<T>(
            out: &mut String,
            title: &str,
            items: &[T],
            limit: usize,
            f: impl Fn(&T) -> String,
        ) {
            if items.is_empty() {
                return;
            }
            let _ = writeln!(out, "{title}: {}", items.len());
            for it in items.iter().take(limit) {
                let _ = writeln!(out, "  {}", f(it));
            }
            if items.len() > limit {
                let _ = writeln!(out, "  … {} more", items.len() - limit);
            }
        }
        let s = |x: &String| x.clone();
        section(&mut out, "MDCs added", &self.mdcs_added, limit, s);
        section(&mut out, "MDCs removed", &self.mdcs_removed, limit, s);
        section(
            &mut out,
            "MDC conditions/lists changed",
            &self.mdc_conditions_changed,
            limit,
            s,
        );
        if self.mdc_order_changed {
            let _ = writeln!(out, "MDC evaluation order changed");
        }
        section(&mut out, "ADRGs added", &self.adrgs_added, limit, s);
        section(&mut out, "ADRGs removed", &self.adrgs_removed, limit, s);
        section(
            &mut out,
            "ADRGs moved to another MDC",
            &self.adrgs_moved,
            limit,
            |(a, f, t)| format!("{a}: {f} -> {t}"),
        );
        section(
            &mut out,
            "ADRG conditions/lists changed",
            &self.adrg_conditions_changed,
            limit,
            s,
        );
        section(&mut out, "DRGs added", &self.drgs_added, limit, |(c, n)| {
            format!("{c} {n}")
        });
        section(
            &mut out,
            "DRGs removed",
            &self.drgs_removed,
            limit,
            |(c, n)| format!("{c} {n}"),
        );
        section(&mut out, "DRGs renamed", &self.drgs_renamed, limit, |r| {
            format!("{}: {} -> {}", r.code, r.from, r.to)
        });
        section(
            &mut out,
            "DRG rules/conditions changed",
            &self.drg_rules_changed,
            limit,
            |(c, a, b)| format!("{c}: {a} -> {b}"),
        );
        section(
            &mut out,
            "scheme flags changed",
            &self.flags_changed,
            limit,
            |(f, a, b)| format!("{f}: {a} -> {b}"),
        );
        let set = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(",")
            }
        };
        section(
            &mut out,
            "codes moved between ADRGs",
            &self.codes_moved,
            limit,
            |m| format!("{}: {} -> {}", m.code, set(&m.from), set(&m.to)),
        );
        let cx = |c: &Complication| match c {
            Complication::None => "-".to_string(),
            Complication::Cc(t) => format!("CC({t})"),
            Complication::Mcc(t) => format!("MCC({t})"),
        };
        section(
            &mut out,
            "CC/MCC changes",
            &self.complications_changed,
            limit,
            |c| format!("{}: {} -> {}", c.code, cx(&c.from), cx(&c.to)),
        );
        section(
            &mut out,
            "main diagnosis exclusion tables changed",
            &self.main_exclusions_changed,
            limit,
            |(c, a, b)| {
                format!(
                    "{c}: {} -> {}",
                    a.as_deref().unwrap_or("-"),
                    b.as_deref().unwrap_or("-")
                )
            },
        );
        section(
            &mut out,
            "operating-room procedures added",
            &self.surgical_added,
            limit,
            s,
        );
        section(
            &mut out,
            "operating-room procedures removed",
            &self.surgical_removed,
            limit,
            s,
        );
        if out.is_empty() {
            out.push_str("no differences\n");
        }
        out
    }
}
