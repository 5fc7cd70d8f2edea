//! Differences between two schemes: groups added, removed, renamed or moved, codes moved
//! between ADRGs, CC/MCC and exclusion changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::scheme::{DrgRule, Scheme};

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
    /// DRGs whose rule changed: (code, old, new).
    pub drg_rules_changed: Vec<(String, DrgRule, DrgRule)>,
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

fn drgs(s: &Scheme) -> BTreeMap<&str, (&str, DrgRule)> {
    s.mdcs
        .iter()
        .flat_map(|m| &m.adrgs)
        .flat_map(|a| &a.drgs)
        .map(|d| (d.code.as_str(), (s.drg_name(d), d.rule)))
        .collect()
}

fn adrgs(s: &Scheme) -> BTreeMap<&str, (&str, &crate::scheme::Adrg)> {
    let mut out = BTreeMap::new();
    for m in &s.mdcs {
        for a in &m.adrgs {
            out.entry(a.code.as_str()).or_insert((m.code.as_str(), a));
        }
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
    let mdc_from: BTreeMap<&str, _> = from.mdcs.iter().map(|m| (m.code.as_str(), m)).collect();
    let mdc_to: BTreeMap<&str, _> = to.mdcs.iter().map(|m| (m.code.as_str(), m)).collect();
    d.mdcs_added = to
        .mdcs
        .iter()
        .filter(|m| !mdc_from.contains_key(m.code.as_str()))
        .map(|m| m.code.clone())
        .collect();
    d.mdcs_removed = from
        .mdcs
        .iter()
        .filter(|m| !mdc_to.contains_key(m.code.as_str()))
        .map(|m| m.code.clone())
        .collect();
    for (code, m) in &mdc_from {
        if let Some(n) = mdc_to.get(code) {
            if m.when != n.when || m.lists != n.lists || m.trauma_sites != n.trauma_sites {
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
    for (code, (mdc, a)) in &af {
        match at.get(code) {
            None => d.adrgs_removed.push(format!("{mdc}/{code}")),
            Some((mdc2, b)) => {
                if mdc != mdc2 {
                    d.adrgs_moved
                        .push((code.to_string(), mdc.to_string(), mdc2.to_string()));
                }
                if a.when != b.when || a.lists != b.lists || a.proc_tags != b.proc_tags {
                    d.adrg_conditions_changed.push(code.to_string());
                }
            }
        }
    }
    for (code, (mdc, _)) in &at {
        if !af.contains_key(code) {
            d.adrgs_added.push(format!("{mdc}/{code}"));
        }
    }

    let (df, dt) = (drgs(from), drgs(to));
    for (code, (name, rule)) in &df {
        match dt.get(code) {
            None => d.drgs_removed.push((code.to_string(), name.to_string())),
            Some((name2, rule2)) => {
                if name != name2 {
                    d.drgs_renamed.push(Renamed {
                        code: code.to_string(),
                        from: name.to_string(),
                        to: name2.to_string(),
                    });
                }
                if rule != rule2 {
                    d.drg_rules_changed.push((code.to_string(), *rule, *rule2));
                }
            }
        }
    }
    for (code, (name, _)) in &dt {
        if !df.contains_key(code) {
            d.drgs_added.push((code.to_string(), name.to_string()));
        }
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
            "DRG rules changed",
            &self.drg_rules_changed,
            limit,
            |(c, a, b)| format!("{c}: {} -> {}", a.name(), b.name()),
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
