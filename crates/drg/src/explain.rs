//! Explaining a grouping step by step (allocating; for people, not for throughput).
//!
//! [`explain`] evaluates the scheme directly on its string form, independently of the
//! compiled [`crate::Grouper`]; tests check that both always agree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::case::{count_codes, validate, Case, Limits, Reason, Status};
use crate::grouper::{AMBIGUOUS_ADRG, UNGROUPABLE_ADRG, UNGROUPABLE_DRG, UNGROUPABLE_MDC};
use crate::scheme::{Cond, DrgRule, Field, FieldKind, Lists, Mdc, Scheme, SS_VALID};

/// Output language of [`Trace::render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Chinese.
    Zh,
    /// English.
    En,
}

/// What a condition saw when it was evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// Nothing beyond the result (constants, and/or/not).
    None,
    /// `present`: whether the field is present.
    Present(bool),
    /// `in`: the field's code (absent: `None`) and the list it was looked up in.
    In {
        /// The code field's value.
        value: Option<String>,
        /// The list name.
        list: String,
    },
    /// `intersects`: the codes of the field that are in the list.
    Intersects {
        /// The list name.
        list: String,
        /// Codes of the case found in the list.
        matched: Vec<String>,
    },
    /// Comparison: the field's value as text (absent: `None`).
    Cmp(Option<String>),
    /// `in` on a text field (discharge way, department): its value and the list.
    TextIn {
        /// The field's value.
        value: Option<String>,
        /// The list name.
        list: String,
    },
    /// `proc_tag`: procedures of the case carrying the tag.
    ProcTag(Vec<String>),
    /// `distinct_trauma_sites_ge`: (diagnosis, site) pairs found, and the number of distinct sites.
    TraumaSites {
        /// Diagnoses of the case with their site.
        found: Vec<(String, String)>,
        /// Distinct sites.
        distinct: usize,
    },
}

/// One evaluated condition with its sub-conditions (only those actually evaluated:
/// `and`/`or` stop at the first false/true operand, like the grouper).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondTrace {
    /// The condition.
    pub cond: Cond,
    /// Its value.
    pub result: bool,
    /// What it saw.
    pub evidence: Evidence,
    /// Evaluated sub-conditions.
    pub children: Vec<CondTrace>,
}

/// How a secondary diagnosis counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryDx {
    /// Position in the case's diagnoses (1 = first secondary).
    pub index: usize,
    /// The code.
    pub code: String,
    /// `Some((true, table))` for an MCC, `Some((false, table))` for a CC, `None` otherwise.
    pub class: Option<(bool, String)>,
    /// Whether the main diagnosis' exclusion table excludes it.
    pub excluded: bool,
}

/// One step of the grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The case failed a plausibility check.
    Rejected(Reason),
    /// An MDC's condition was evaluated.
    Mdc {
        /// MDC code.
        code: String,
        /// The evaluated condition.
        cond: CondTrace,
    },
    /// An ADRG's condition was evaluated.
    Adrg {
        /// ADRG code.
        code: String,
        /// The evaluated condition.
        cond: CondTrace,
    },
    /// No ADRG of the MDC matched; going on with the next MDC.
    FellThrough {
        /// MDC code.
        mdc: String,
    },
    /// The secondary diagnoses were classified (once, when an ADRG matched).
    Complications {
        /// Main diagnosis exclusion table, if any.
        main_table: Option<String>,
        /// Every secondary diagnosis.
        secondaries: Vec<SecondaryDx>,
        /// Some non-excluded MCC.
        mcc: bool,
        /// Some non-excluded CC.
        cc: bool,
    },
    /// A DRG rule was evaluated.
    Drg {
        /// DRG code.
        code: String,
        /// DRG name.
        name: String,
        /// Its rule.
        rule: DrgRule,
        /// Whether the rule held.
        rule_result: bool,
        /// The DRG's own condition (E2), evaluated when the rule held and it has one.
        when: Option<CondTrace>,
        /// Whether the DRG held (rule and condition).
        result: bool,
    },
    /// The ADRG is an ambiguous entry (E3): grouping ends as 歧义病案.
    Ambiguous {
        /// MDC code.
        mdc: String,
        /// The entry's code (e.g. `BQY`).
        code: String,
    },
    /// No DRG of the ADRG held and the ADRG has no fall-through flag: the case gets the
    /// ADRG's own code as its DRG (E0).
    Fallback {
        /// ADRG code.
        adrg: String,
    },
    /// No DRG of the ADRG held and the ADRG has `no_drg_falls_through` (E4): the walk goes
    /// on with the next ADRG.
    DrgsFellThrough {
        /// ADRG code.
        adrg: String,
    },
    /// The case ended ungroupable; the scheme's retry rule (E5) groups it again with one
    /// later procedure alone. The steps that follow are that walk.
    Retry {
        /// Index among the case's procedures (1 = the first after the main procedure).
        index: usize,
        /// The procedure.
        code: String,
    },
}

/// The full account of grouping one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The steps in order.
    pub steps: Vec<Step>,
    /// MDC code, `0000` when ungroupable.
    pub mdc: String,
    /// ADRG code, `00` when ungroupable.
    pub adrg: String,
    /// DRG code, `0000` when ungroupable.
    pub drg: String,
    /// DRG name, empty when ungroupable.
    pub drg_name: String,
    /// Final status.
    pub status: Status,
    /// The procedure the retry rule (E5) grouped the case with: (index, code).
    pub retry_proc: Option<(usize, String)>,
}

/// Explains the grouping of `case` under `scheme` with the default [`Limits`].
pub fn explain(scheme: &Scheme, case: &Case<'_>) -> Trace {
    explain_with(scheme, case, &Limits::default())
}

/// Explains the grouping of `case` under `scheme` with the given limits.
pub fn explain_with(scheme: &Scheme, case: &Case<'_>, limits: &Limits) -> Trace {
    let dx: Vec<&str> = case
        .dx
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    let procs: Vec<&str> = case
        .procs
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    let mut trace = Trace {
        steps: Vec::new(),
        mdc: UNGROUPABLE_MDC.into(),
        adrg: UNGROUPABLE_ADRG.into(),
        drg: UNGROUPABLE_DRG.into(),
        drg_name: String::new(),
        status: Status::Grouped,
        retry_proc: None,
    };
    if let Some(r) = validate(
        limits,
        case.age,
        case.age_days,
        case.weight_g,
        count_codes(case.dx),
        count_codes(case.procs),
    ) {
        trace.steps.push(Step::Rejected(r));
        trace.status = Status::Ungroupable(r);
        return trace;
    }
    let ev = Evaluator {
        scheme,
        case,
        dx: &dx,
        procs: &procs,
    };
    let first = walk(&ev, &mut trace);
    if scheme.retry_with_each_secondary_proc
        && matches!(trace.status, Status::Ungroupable(_))
        && procs.len() >= 2
    {
        for (i, p) in procs.iter().enumerate().skip(1) {
            trace.steps.push(Step::Retry {
                index: i,
                code: p.to_string(),
            });
            let one = [*p];
            let ev = Evaluator {
                procs: &one,
                ..ev
            };
            let mut t = Trace {
                steps: Vec::new(),
                ..trace.clone()
            };
            walk(&ev, &mut t);
            trace.steps.append(&mut t.steps);
            if !matches!(t.status, Status::Ungroupable(_)) {
                trace.mdc = t.mdc;
                trace.adrg = t.adrg;
                trace.drg = t.drg;
                trace.drg_name = t.drg_name;
                trace.status = t.status;
                trace.retry_proc = Some((i, p.to_string()));
                return trace;
            }
        }
        trace.status = first;
    }
    trace
}

/// One walk of the scheme; sets the result of `trace` and returns its status.
fn walk(ev: &Evaluator<'_>, trace: &mut Trace) -> Status {
    let scheme = ev.scheme;
    let mut any_mdc = false;
    let mut complications: Option<(bool, bool)> = None;
    for m in &scheme.mdcs {
        let cond = ev.eval(&m.when, &m.lists, None, m);
        let ok = cond.result;
        trace.steps.push(Step::Mdc {
            code: m.code.clone(),
            cond,
        });
        if !ok {
            continue;
        }
        any_mdc = true;
        for a in &m.adrgs {
            let cond = ev.eval(&a.when, &a.lists, Some(&a.proc_tags), m);
            let ok = cond.result;
            trace.steps.push(Step::Adrg {
                code: a.code.clone(),
                cond,
            });
            if !ok {
                continue;
            }
            if a.ambiguous {
                trace.steps.push(Step::Ambiguous {
                    mdc: m.code.clone(),
                    code: a.code.clone(),
                });
                trace.mdc = m.code.clone();
                trace.adrg = AMBIGUOUS_ADRG.into();
                trace.drg = a.code.clone();
                trace.drg_name = scheme
                    .drg_names
                    .get(a.code.as_str())
                    .cloned()
                    .unwrap_or_default();
                trace.status = Status::Ambiguous;
                return trace.status;
            }
            let (mcc, cc) = match complications {
                Some(v) => v,
                None => {
                    let (step, mcc, cc) = ev.complications();
                    trace.steps.push(step);
                    complications = Some((mcc, cc));
                    (mcc, cc)
                }
            };
            for d in &a.drgs {
                let rule_result = d.rule.holds(mcc, cc);
                let when = (rule_result && d.when != Cond::Const(true))
                    .then(|| ev.eval(&d.when, &d.lists, Some(&a.proc_tags), m));
                let result = rule_result && when.as_ref().is_none_or(|w| w.result);
                trace.steps.push(Step::Drg {
                    code: d.code.clone(),
                    name: scheme.drg_name(d).to_string(),
                    rule: d.rule,
                    rule_result,
                    when,
                    result,
                });
                if result {
                    trace.mdc = m.code.clone();
                    trace.adrg = a.code.clone();
                    trace.drg = d.code.clone();
                    trace.drg_name = scheme.drg_name(d).to_string();
                    trace.status = Status::Grouped;
                    return trace.status;
                }
            }
            if a.no_drg_falls_through {
                trace.steps.push(Step::DrgsFellThrough {
                    adrg: a.code.clone(),
                });
                continue;
            }
            // E0 (needs_fallback holds here: an unconditional last DRG would have held).
            trace.steps.push(Step::Fallback {
                adrg: a.code.clone(),
            });
            trace.mdc = m.code.clone();
            trace.adrg = a.code.clone();
            trace.drg = a.code.clone();
            trace.drg_name = scheme
                .drg_names
                .get(a.code.as_str())
                .cloned()
                .unwrap_or_default();
            trace.status = Status::Grouped;
            return trace.status;
        }
        trace.steps.push(Step::FellThrough {
            mdc: m.code.clone(),
        });
    }
    let dx = ev.dx;
    let known = |c: &str| {
        scheme.cc.contains_key(c)
            || scheme.mcc.contains_key(c)
            || scheme.main_dx_exclusion.contains_key(c)
            || scheme
                .surgical_procedures
                .binary_search_by(|p| (**p).cmp(c))
                .is_ok()
            || scheme.mdcs.iter().any(|m| {
                in_lists(&m.lists, c)
                    || m.trauma_sites.contains_key(c)
                    || m.adrgs.iter().any(|a| {
                        in_lists(&a.lists, c)
                            || a.proc_tags.contains_key(c)
                            || a.drgs.iter().any(|d| in_lists(&d.lists, c))
                    })
            })
    };
    let reason = if any_mdc {
        Reason::NoAdrg
    } else if !dx.first().is_some_and(|d| known(d)) {
        Reason::UnknownMainDiagnosis
    } else {
        Reason::NoMdc
    };
    trace.mdc = UNGROUPABLE_MDC.into();
    trace.adrg = UNGROUPABLE_ADRG.into();
    trace.drg = UNGROUPABLE_DRG.into();
    trace.drg_name = String::new();
    trace.status = Status::Ungroupable(reason);
    trace.status
}

fn in_lists(lists: &Lists, code: &str) -> bool {
    lists.values().any(|l| contains(l, code))
}

fn contains(list: &[Box<str>], code: &str) -> bool {
    list.binary_search_by(|p| (**p).cmp(code)).is_ok()
}

#[derive(Clone, Copy)]
struct Evaluator<'a> {
    scheme: &'a Scheme,
    case: &'a Case<'a>,
    dx: &'a [&'a str],
    procs: &'a [&'a str],
}

impl Evaluator<'_> {
    fn list<'l>(&'l self, lists: &'l Lists, name: &str) -> &'l [Box<str>] {
        if name == SS_VALID {
            &self.scheme.surgical_procedures
        } else {
            lists.get(name).map_or(&[], Vec::as_slice)
        }
    }

    fn number(&self, f: Field) -> Option<f64> {
        self.case.number(f)
    }

    fn codes(&self, f: Field) -> &[&str] {
        match f {
            Field::Dx | Field::MainDx => self.dx,
            Field::SecondaryDx => self.dx.get(1..).unwrap_or(&[]),
            Field::SecondaryProcs => self.procs.get(1..).unwrap_or(&[]),
            _ => self.procs,
        }
    }

    fn eval(
        &self,
        cond: &Cond,
        lists: &Lists,
        tags: Option<&BTreeMap<Box<str>, String>>,
        mdc: &Mdc,
    ) -> CondTrace {
        let mut children = Vec::new();
        let (result, evidence) = match cond {
            Cond::Const(b) => (*b, Evidence::None),
            Cond::And(items) => {
                let mut r = true;
                for c in items {
                    let t = self.eval(c, lists, tags, mdc);
                    r = t.result;
                    children.push(t);
                    if !r {
                        break;
                    }
                }
                (r, Evidence::None)
            }
            Cond::Or(items) => {
                let mut r = false;
                for c in items {
                    let t = self.eval(c, lists, tags, mdc);
                    r = t.result;
                    children.push(t);
                    if r {
                        break;
                    }
                }
                (r, Evidence::None)
            }
            Cond::Not(c) => {
                let t = self.eval(c, lists, tags, mdc);
                let r = !t.result;
                children.push(t);
                (r, Evidence::None)
            }
            Cond::Present(f) => {
                let p = match f.kind() {
                    FieldKind::CodeList => !self.codes(*f).is_empty(),
                    FieldKind::Code => match f {
                        Field::MainDx | Field::MainProc => !self.codes(*f).is_empty(),
                        _ => self.case.text(*f).is_some(),
                    },
                    FieldKind::Number => self.number(*f).is_some(),
                };
                (p, Evidence::Present(p))
            }
            Cond::In(f @ (Field::MainDx | Field::MainProc), l) => {
                let v = self.codes(*f).first().copied();
                let r = v.is_some_and(|c| contains(self.list(lists, l), c));
                (
                    r,
                    Evidence::In {
                        value: v.map(str::to_string),
                        list: l.clone(),
                    },
                )
            }
            Cond::In(f, l) => {
                let v = self.case.text(*f);
                let r = v.is_some_and(|c| contains(self.list(lists, l), c));
                (
                    r,
                    Evidence::TextIn {
                        value: v.map(str::to_string),
                        list: l.clone(),
                    },
                )
            }
            Cond::Intersects(f, l) => {
                let list = self.list(lists, l);
                let matched: Vec<String> = self
                    .codes(*f)
                    .iter()
                    .filter(|c| contains(list, c))
                    .map(|c| c.to_string())
                    .collect();
                (
                    !matched.is_empty(),
                    Evidence::Intersects {
                        list: l.clone(),
                        matched,
                    },
                )
            }
            Cond::Cmp(op, f, n) => {
                let v = self.number(*f);
                (
                    v.is_some_and(|v| op.apply_f64(v, *n as f64)),
                    Evidence::Cmp(v.map(|v| v.to_string())),
                )
            }
            Cond::ProcTag(t) => {
                let matched: Vec<String> = self
                    .procs
                    .iter()
                    .filter(|p| tags.and_then(|m| m.get(**p)).is_some_and(|pt| pt == t))
                    .map(|p| p.to_string())
                    .collect();
                (!matched.is_empty(), Evidence::ProcTag(matched))
            }
            Cond::DistinctTraumaSitesGe(n) => {
                let found: Vec<(String, String)> = self
                    .dx
                    .iter()
                    .filter_map(|d| mdc.trauma_sites.get(*d).map(|s| (d.to_string(), s.clone())))
                    .collect();
                let mut sites: Vec<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
                sites.sort_unstable();
                sites.dedup();
                let distinct = sites.len();
                (
                    distinct >= *n as usize,
                    Evidence::TraumaSites { found, distinct },
                )
            }
        };
        CondTrace {
            cond: shallow(cond),
            result,
            evidence,
            children,
        }
    }

    /// The classification step, and whether some MCC / some CC counts.
    fn complications(&self) -> (Step, bool, bool) {
        let main_table = self
            .dx
            .first()
            .and_then(|m| self.scheme.main_dx_exclusion.get(*m))
            .map(|t| t.to_string());
        let mut secondaries = Vec::new();
        let (mut mcc, mut cc) = (false, false);
        for (i, d) in self.dx.iter().enumerate().skip(1) {
            let class = if let Some(t) = self.scheme.mcc.get(*d) {
                Some((true, t.to_string()))
            } else {
                self.scheme.cc.get(*d).map(|t| (false, t.to_string()))
            };
            let excluded = match (&class, &main_table) {
                (Some((_, t)), Some(m)) => t == m,
                _ => false,
            };
            match &class {
                Some((true, _)) if !excluded => mcc = true,
                Some((false, _)) if !excluded => cc = true,
                _ => {}
            }
            secondaries.push(SecondaryDx {
                index: i,
                code: d.to_string(),
                class,
                excluded,
            });
        }
        let step = Step::Complications {
            main_table,
            secondaries,
            mcc,
            cc,
        };
        (step, mcc, cc)
    }
}

/// The condition without its operands' subtrees (they are in `children`).
fn shallow(cond: &Cond) -> Cond {
    match cond {
        Cond::And(_) => Cond::And(Vec::new()),
        Cond::Or(_) => Cond::Or(Vec::new()),
        Cond::Not(_) => Cond::Not(Box::new(Cond::Const(true))),
        other => other.clone(),
    }
}

fn field_zh(f: Field) -> &'static str {
    match f {
        Field::Sex => "性别",
        Field::Age => "年龄(岁)",
        Field::AgeDays => "年龄(天)",
        Field::WeightG => "出生体重(克)",
        Field::Dx => "诊断",
        Field::MainDx => "主要诊断",
        Field::Procs => "手术操作",
        Field::MainProc => "主要手术操作",
        Field::SecondaryDx => "其他诊断",
        Field::SecondaryProcs => "其他手术操作",
        Field::Los => "住院天数",
        Field::IcuHours => "重症监护时长(小时)",
        Field::DischargeWay => "离院方式",
        Field::Dept => "出院科别",
    }
}

impl Trace {
    /// Renders the trace as indented text.
    pub fn render(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        let mut out = String::new();
        for step in &self.steps {
            match step {
                Step::Rejected(r) => {
                    let _ = if zh {
                        writeln!(out, "✗ 病例校验未通过：{}", r.zh())
                    } else {
                        writeln!(out, "✗ case rejected: {}", r.en())
                    };
                }
                Step::Mdc { code, cond } => {
                    let _ = writeln!(
                        out,
                        "{} {code}{}",
                        mark(cond.result),
                        match (zh, cond.result) {
                            (true, true) => "：进入",
                            (true, false) => "：不进入",
                            (false, true) => ": entered",
                            (false, false) => ": not entered",
                        }
                    );
                    render_cond(&mut out, cond, 2, zh);
                }
                Step::Adrg { code, cond } => {
                    let _ = writeln!(
                        out,
                        "  {} {code}{}",
                        mark(cond.result),
                        match (zh, cond.result) {
                            (true, true) => "：入组",
                            (true, false) => "：不入组",
                            (false, true) => ": matched",
                            (false, false) => ": not matched",
                        }
                    );
                    render_cond(&mut out, cond, 4, zh);
                }
                Step::FellThrough { mdc } => {
                    let _ = if zh {
                        writeln!(out, "  → {mdc} 下无ADRG满足，继续下一个MDC")
                    } else {
                        writeln!(
                            out,
                            "  → no ADRG of {mdc} matched, going on with the next MDC"
                        )
                    };
                }
                Step::Complications {
                    main_table,
                    secondaries,
                    mcc,
                    cc,
                } => {
                    let _ = match (zh, main_table) {
                        (true, Some(t)) => writeln!(out, "    主要诊断排除表：{t}"),
                        (true, None) => writeln!(out, "    主要诊断无排除表"),
                        (false, Some(t)) => {
                            writeln!(out, "    main diagnosis exclusion table: {t}")
                        }
                        (false, None) => writeln!(out, "    main diagnosis has no exclusion table"),
                    };
                    if secondaries.is_empty() {
                        let _ = writeln!(
                            out,
                            "    {}",
                            if zh {
                                "无其他诊断"
                            } else {
                                "no secondary diagnoses"
                            }
                        );
                    }
                    for s in secondaries {
                        let what = match (&s.class, s.excluded, zh) {
                            (None, _, true) => "非CC/MCC".to_string(),
                            (None, _, false) => "neither CC nor MCC".to_string(),
                            (Some((m, t)), false, true) => {
                                format!("{}（排除表 {t}），有效", if *m { "MCC" } else { "CC" })
                            }
                            (Some((m, t)), true, true) => format!(
                                "{}（排除表 {t}），被主要诊断排除表 {t} 排除",
                                if *m { "MCC" } else { "CC" }
                            ),
                            (Some((m, t)), false, false) => {
                                format!("{} (exclusion table {t}), counts", if *m { "MCC" } else { "CC" })
                            }
                            (Some((m, t)), true, false) => format!(
                                "{} (exclusion table {t}), excluded by the main diagnosis' table {t}",
                                if *m { "MCC" } else { "CC" }
                            ),
                        };
                        let _ = if zh {
                            writeln!(out, "    其他诊断{} {}：{what}", s.index, s.code)
                        } else {
                            writeln!(out, "    secondary dx {} {}: {what}", s.index, s.code)
                        };
                    }
                    let yn = |b: bool| match (zh, b) {
                        (true, true) => "有",
                        (true, false) => "无",
                        (false, true) => "yes",
                        (false, false) => "no",
                    };
                    let _ = if zh {
                        writeln!(out, "    有效MCC：{}；有效CC：{}", yn(*mcc), yn(*cc))
                    } else {
                        writeln!(
                            out,
                            "    MCC counted: {}; CC counted: {}",
                            yn(*mcc),
                            yn(*cc)
                        )
                    };
                }
                Step::Drg {
                    code,
                    name,
                    rule,
                    rule_result: _,
                    when,
                    result,
                } => {
                    let rule_text = match (zh, rule) {
                        (true, DrgRule::Mcc) => "伴严重并发症或合并症(MCC)",
                        (true, DrgRule::MccOrCc) => "伴并发症或合并症(MCC或CC)",
                        (true, DrgRule::Cc) => "伴一般并发症或合并症(CC，MCC不计)",
                        (true, DrgRule::Always) => "无条件",
                        (true, DrgRule::Never) => "从不入组",
                        (false, DrgRule::Mcc) => "needs an MCC",
                        (false, DrgRule::MccOrCc) => "needs an MCC or CC",
                        (false, DrgRule::Cc) => "needs a CC (MCCs do not count)",
                        (false, DrgRule::Always) => "always",
                        (false, DrgRule::Never) => "never",
                    };
                    let _ = writeln!(out, "    {} {code} {name} [{rule_text}]", mark(*result));
                    if let Some(w) = when {
                        let _ = writeln!(
                            out,
                            "      {}",
                            match (zh, w.result) {
                                (true, true) => "规则满足；本组附加条件满足：",
                                (true, false) => "规则满足，但本组附加条件不满足：",
                                (false, true) => "rule holds; the DRG's own condition holds:",
                                (false, false) => "rule holds, but the DRG's own condition fails:",
                            }
                        );
                        render_cond(&mut out, w, 8, zh);
                    }
                }
                Step::Ambiguous { mdc, code } => {
                    let _ = if zh {
                        writeln!(
                            out,
                            "    → {code} 为{mdc}的歧义病案条目：条件满足，病例为歧义病案（ADRG QY），需人工审核"
                        )
                    } else {
                        writeln!(
                            out,
                            "    → {code} is an ambiguous entry of {mdc}: its condition holds, so the case is ambiguous (ADRG QY) and goes to review"
                        )
                    };
                }
                Step::Fallback { adrg } => {
                    let _ = if zh {
                        writeln!(out, "    → {adrg} 下无DRG满足，按方案规则以ADRG编码 {adrg} 作为DRG")
                    } else {
                        writeln!(
                            out,
                            "    → no DRG of {adrg} held: the case gets the ADRG's own code {adrg} as its DRG"
                        )
                    };
                }
                Step::DrgsFellThrough { adrg } => {
                    let _ = if zh {
                        writeln!(out, "    → {adrg} 下无DRG满足，该ADRG设为不入组即顺延，继续下一个ADRG")
                    } else {
                        writeln!(
                            out,
                            "    → no DRG of {adrg} held and it is marked no_drg_falls_through: going on with the next ADRG"
                        )
                    };
                }
                Step::Retry { index, code } => {
                    let _ = if zh {
                        writeln!(
                            out,
                            "↻ 无法入组，按方案规则以第{}个手术操作 {code} 单独作为主要手术重新分组：",
                            index + 1
                        )
                    } else {
                        writeln!(
                            out,
                            "↻ ungroupable: the scheme's retry rule groups the case again with procedure {} ({code}) alone as the main procedure:",
                            index + 1
                        )
                    };
                }
            }
        }
        if let Some((i, p)) = &self.retry_proc {
            let _ = if zh {
                writeln!(out, "重新分组所用手术操作：第{}个 {p}", i + 1)
            } else {
                writeln!(out, "retry used procedure {} ({p})", i + 1)
            };
        }
        let _ = match (zh, self.status) {
            (true, Status::Grouped) => writeln!(
                out,
                "结果：{} / {} / {} {}（{}）",
                self.mdc,
                self.adrg,
                self.drg,
                self.drg_name,
                self.status.label()
            ),
            (true, Status::Ambiguous) => writeln!(
                out,
                "结果：{} / {} / {} {}（{}）",
                self.mdc,
                self.adrg,
                self.drg,
                self.drg_name,
                Status::Ambiguous.zh()
            ),
            (false, Status::Ambiguous) => writeln!(
                out,
                "result: {} / {} / {} {} (ambiguous case 歧义病案: goes to review)",
                self.mdc, self.adrg, self.drg, self.drg_name
            ),
            (true, Status::Ungroupable(r)) => writeln!(
                out,
                "结果：{} / {} / {}（{}：{}）",
                self.mdc,
                self.adrg,
                self.drg,
                self.status.label(),
                r.zh()
            ),
            (false, Status::Grouped) => writeln!(
                out,
                "result: {} / {} / {} {} (grouped)",
                self.mdc, self.adrg, self.drg, self.drg_name
            ),
            (false, Status::Ungroupable(r)) => writeln!(
                out,
                "result: {} / {} / {} (ungroupable: {})",
                self.mdc,
                self.adrg,
                self.drg,
                r.en()
            ),
        };
        out
    }
}

fn mark(b: bool) -> &'static str {
    if b {
        "✓"
    } else {
        "✗"
    }
}

fn render_cond(out: &mut String, t: &CondTrace, indent: usize, zh: bool) {
    let pad = " ".repeat(indent);
    let yes = |b: bool| match (zh, b) {
        (true, true) => "是",
        (true, false) => "否",
        (false, true) => "yes",
        (false, false) => "no",
    };
    let fname = |f: Field| if zh { field_zh(f) } else { f.name() };
    let text = match (&t.cond, &t.evidence) {
        (Cond::Const(b), _) => match (zh, b) {
            (true, true) => "恒为真".to_string(),
            (true, false) => "恒为假".to_string(),
            (false, b) => format!("constant {b}"),
        },
        (Cond::And(_), _) => (if zh { "同时满足：" } else { "all of:" }).to_string(),
        (Cond::Or(_), _) => (if zh { "满足其一：" } else { "any of:" }).to_string(),
        (Cond::Not(_), _) => (if zh { "不满足：" } else { "not:" }).to_string(),
        (Cond::Present(f), Evidence::Present(p)) => {
            if zh {
                format!("{}存在：{}", fname(*f), yes(*p))
            } else {
                format!("{} present: {}", fname(*f), yes(*p))
            }
        }
        (Cond::In(f, _), Evidence::In { value, list }) => match (value, zh) {
            (None, true) => format!("{}缺失，不在列表 {list}", fname(*f)),
            (None, false) => format!("{} absent, not in list {list}", fname(*f)),
            (Some(v), true) => format!(
                "{} {v} {}列表 {list}",
                fname(*f),
                if t.result { "属于" } else { "不属于" }
            ),
            (Some(v), false) => format!(
                "{} {v} {} list {list}",
                fname(*f),
                if t.result { "is in" } else { "is not in" }
            ),
        },
        (Cond::Intersects(f, _), Evidence::Intersects { list, matched }) => {
            if matched.is_empty() {
                if zh {
                    format!("{}均不在列表 {list}", fname(*f))
                } else {
                    format!("no {} in list {list}", fname(*f))
                }
            } else if zh {
                format!("{}与列表 {list} 相交：{}", fname(*f), matched.join("、"))
            } else {
                format!("{} in list {list}: {}", fname(*f), matched.join(", "))
            }
        }
        (Cond::In(f, _), Evidence::TextIn { value, list }) => match (value, zh) {
            (None, true) => format!("{}缺失，不在列表 {list}", fname(*f)),
            (None, false) => format!("{} absent, not in list {list}", fname(*f)),
            (Some(v), true) => format!(
                "{} {v} {}列表 {list}",
                fname(*f),
                if t.result { "属于" } else { "不属于" }
            ),
            (Some(v), false) => format!(
                "{} {v} {} list {list}",
                fname(*f),
                if t.result { "is in" } else { "is not in" }
            ),
        },
        (Cond::Cmp(op, f, n), Evidence::Cmp(v)) => match (v, zh) {
            (None, true) => format!("{}缺失（{} {n} 不成立）", fname(*f), op.symbol()),
            (None, false) => format!("{} absent ({} {n} is false)", fname(*f), op.symbol()),
            (Some(v), _) => format!("{} = {v} {} {n}: {}", fname(*f), op.symbol(), yes(t.result)),
        },
        (Cond::ProcTag(tag), Evidence::ProcTag(m)) => match (m.is_empty(), zh) {
            (true, true) => format!("无带标签 {tag} 的手术操作"),
            (true, false) => format!("no procedure tagged {tag}"),
            (false, true) => format!("带标签 {tag} 的手术操作：{}", m.join("、")),
            (false, false) => format!("procedures tagged {tag}: {}", m.join(", ")),
        },
        (Cond::DistinctTraumaSitesGe(n), Evidence::TraumaSites { found, distinct }) => {
            let list: Vec<String> = found.iter().map(|(d, s)| format!("{d}={s}")).collect();
            if zh {
                format!(
                    "创伤部位数 {distinct} ≥ {n}：{}（{}）",
                    yes(t.result),
                    list.join("、")
                )
            } else {
                format!(
                    "distinct trauma sites {distinct} >= {n}: {} ({})",
                    yes(t.result),
                    list.join(", ")
                )
            }
        }
        (c, _) => c.to_string(),
    };
    let _ = writeln!(out, "{pad}{} {text}", mark(t.result));
    for c in &t.children {
        render_cond(out, c, indent + 2, zh);
    }
}
