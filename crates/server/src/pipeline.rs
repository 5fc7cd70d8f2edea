//! The pricing pipeline of one settlement list, without IO: QC findings, DRG
//! grouping with its trace, points and the estimated payment.
//!
//! The grouping view of a claim ([`drg_case`]) is shared with the CLI
//! (`claims_io::group_claim`); the weights-table reader is
//! [`points::parse_standards`], used by both.

use std::collections::HashMap;

use claims::import::Record;
use claims::{Claim, Fen, Sex};
use points::{CaseInput, GroupStandard, Params};
use rust_decimal::Decimal;

/// Everything needed to price a case, compiled once per set of active configurations.
pub struct Engine {
    pub grouper: drg::Grouper,
    pub params: Params,
    pub standards: HashMap<String, GroupStandard>,
    /// The DIP grouper, when the parameters' method is `dip` (the region pays by
    /// DIP scores): cases are then grouped by the library, not the DRG scheme.
    pub dip: Option<dip::Grouper>,
    /// Configuration ids the engine was built from (None: built-in default).
    pub scheme_id: Option<i64>,
    pub params_id: Option<i64>,
    pub weights_id: Option<i64>,
}

/// A located problem: the record's line, the field and the rule.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Problem {
    pub line: u64,
    pub case_id: String,
    pub rule_id: String,
    pub severity: String,
    pub field: Option<String>,
    pub value: String,
    pub message: String,
}

/// The grouping and pricing of one case.
#[derive(Clone, Debug)]
pub struct Priced {
    pub mdc: String,
    pub adrg: String,
    pub drg: String,
    pub drg_name: String,
    /// `grouped`, or `ungroupable: <reason>`.
    pub status: String,
    pub trace: String,
    pub points: points::Points,
    /// Why the points are not known (the conversion rate is unavailable and the
    /// case's points convert money: fee-for-service, per-diem, drug add-ons); then
    /// the rate-dependent figures of `points` are meaningless and shown as null.
    pub pending: Option<String>,
}

impl Priced {
    /// The total points, None while pending.
    pub fn total(&self) -> Option<Decimal> {
        self.pending.is_none().then_some(self.points.total)
    }

    /// The points derivation as JSON: the rate-dependent figures are null while pending.
    pub fn points_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.points).unwrap_or(serde_json::Value::Null);
        if let Some(why) = &self.pending {
            let converted_case = !matches!(self.points.method, points::PayMethod::Drg | points::PayMethod::Dip);
            for k in ["total", "yuan_per_point"] {
                v[k] = serde_json::Value::Null;
            }
            if converted_case {
                v["case_points"] = serde_json::Value::Null;
            }
            if !converted_case || self.points.addon_points != Decimal::ZERO {
                v["addon_points"] = serde_json::Value::Null;
            }
            v["points_pending"] = serde_json::Value::String(why.clone());
        }
        v
    }
}

/// Normalised diagnosis and procedure codes of a claim (owned, for [`drg_case`]).
pub struct CaseCodes {
    pub dx: Vec<String>,
    pub procs: Vec<String>,
}

impl CaseCodes {
    pub fn of(c: &Claim) -> CaseCodes {
        CaseCodes {
            dx: c
                .diagnoses()
                .map(|d| codes::normalize(d).into_owned())
                .collect(),
            procs: c
                .procedures
                .iter()
                .map(|p| codes::normalize(&p.code).into_owned())
                .collect(),
        }
    }
}

/// The DRG view of a claim (codes normalised): sex, age, birth weight, codes, length
/// of stay, discharge way, discharge department and ICU hours from the settlement list.
pub fn drg_case<'a>(c: &'a Claim, dx: &'a [&'a str], procs: &'a [&'a str]) -> drg::Case<'a> {
    drg::Case {
        sex: c.sex.map(|s| match s {
            Sex::Male => 1,
            Sex::Female => 2,
        }),
        age: c.age,
        age_days: c.age_days,
        weight_g: c.birth_weight_g,
        dx,
        procs,
        los: c.los.or_else(|| los_from_dates(c)),
        discharge_way: c.discharge_way.map(discharge_way_code),
        dept: Some(c.department.trim()).filter(|d| !d.is_empty()),
        icu_hours: c.icu_hours.map(f64::from),
    }
}

/// Length of stay from the admission and discharge dates (days between the dates; a
/// same-day stay counts 1), when the list gives no 实际住院天数.
pub fn los_from_dates(c: &Claim) -> Option<u32> {
    let (a, d) = (c.admitted_at?, c.discharged_at?);
    let days = (d.date() - a.date()).num_days();
    (days >= 0).then(|| days.max(1) as u32)
}

/// The national code of a discharge way (离院方式) as grouping schemes write it.
pub fn discharge_way_code(w: claims::DischargeWay) -> &'static str {
    use claims::DischargeWay::*;
    match w {
        Ordered => "1",
        Transfer => "2",
        TransferCommunity => "3",
        AgainstAdvice => "4",
        Death => "5",
        Other => "9",
    }
}

pub use points::parse_standards;

/// A scheme configuration: the texts of the six scheme files.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeUpload {
    pub scheme_json: String,
    pub cc_tsv: String,
    pub mcc_tsv: String,
    pub main_dx_exclusion_tsv: String,
    pub surgical_procedures_tsv: String,
    pub drg_names_tsv: String,
}

impl SchemeUpload {
    /// Parse an upload and compile it; every refusal is a 422 `invalid_configuration`
    /// whose detail names the offending key: `scheme_json.<JSON path>` (e.g.
    /// `scheme_json.mdcs[3].adrgs[12].drgs[2].when.gt[0]`) or `<table>_tsv` with its line.
    pub fn compile_text(text: &str) -> Result<drg::Grouper, crate::error::ApiError> {
        let invalid = |key: String, line: Option<usize>, reason: String| {
            crate::error::ApiError::invalid_config(&check::Invalid {
                what: "scheme",
                problems: vec![check::Problem { key, value: None, line, reason }],
            })
        };
        let up: SchemeUpload = serde_json::from_str(text)
            .map_err(|e| invalid("(document)".into(), Some(e.line()), format!("scheme configuration: {e}")))?;
        let scheme = drg::Scheme::from_files(up.files()).map_err(|e| {
            let field = e.file.replace('.', "_");
            let (key, line) = match &e.location {
                drg::scheme::Location::JsonPath(p) => (format!("{field}.{p}"), None),
                drg::scheme::Location::Line(l) => (field, Some(*l)),
                drg::scheme::Location::LineColumn(l, _) => (field, Some(*l)),
                drg::scheme::Location::File => (field, None),
            };
            invalid(key, line, e.to_string())
        })?;
        drg::Grouper::new(scheme).map_err(|e| invalid("scheme_json".into(), None, e.to_string()))
    }

    /// The six texts as the loader reads them.
    pub fn files(&self) -> drg::SchemeFiles<'_> {
        drg::SchemeFiles {
            scheme_json: &self.scheme_json,
            cc_tsv: &self.cc_tsv,
            mcc_tsv: &self.mcc_tsv,
            main_dx_exclusion_tsv: &self.main_dx_exclusion_tsv,
            surgical_procedures_tsv: &self.surgical_procedures_tsv,
            drg_names_tsv: &self.drg_names_tsv,
        }
    }

    /// Parse and compile.
    pub fn compile(&self) -> Result<drg::Grouper, String> {
        let scheme = drg::Scheme::from_files(drg::SchemeFiles {
            scheme_json: &self.scheme_json,
            cc_tsv: &self.cc_tsv,
            mcc_tsv: &self.mcc_tsv,
            main_dx_exclusion_tsv: &self.main_dx_exclusion_tsv,
            surgical_procedures_tsv: &self.surgical_procedures_tsv,
            drg_names_tsv: &self.drg_names_tsv,
        })
        .map_err(|e| format!("scheme: {e}"))?;
        drg::Grouper::new(scheme).map_err(|e| format!("scheme: {e}"))
    }
}

/// Turn a QC finding into a located problem.
pub fn problem(rules: &qc::RuleSet, f: &qc::Finding) -> Problem {
    let rule = rules.rules.get(f.rule as usize);
    Problem {
        line: f.line,
        case_id: f.case_id.clone(),
        rule_id: rule.map(|r| r.id.clone()).unwrap_or_default(),
        severity: rule
            .map(|r| r.severity.as_str().to_owned())
            .unwrap_or_default(),
        field: f.field.map(|x| x.name().to_owned()),
        value: f.value.clone(),
        message: rule
            .map(|r| r.message(true, &f.value, &f.detail))
            .unwrap_or_else(|| f.detail.clone()),
    }
}

/// The group of a case, as the pages show it and pricing needs it.
pub struct Grouped {
    pub mdc: String,
    pub adrg: String,
    /// DRG code, or the DIP group code in a DIP region.
    pub drg: String,
    pub drg_name: String,
    pub status: String,
    /// The group's standard (weight or score, mean cost); None: not priced by a group.
    pub standard: Option<GroupStandard>,
}

fn hospital_level(inst: &points::Institution) -> Option<u8> {
    match inst.level.as_str() {
        "三级" => Some(3),
        "二级" => Some(2),
        "一级" => Some(1),
        _ => None,
    }
}

impl Engine {
    /// Group a claim (DRG scheme, or DIP library in a DIP region); with `trace`, also
    /// render the grouping trace in Chinese.
    pub fn group(&self, c: &Claim, inst: &points::Institution, trace: bool) -> (Grouped, String) {
        if let Some(dg) = &self.dip {
            let o = dg.group(c, hospital_level(inst), &mut dip::Scratch::default());
            let g = o.group.map(|i| &dg.groups()[i as usize]);
            let standard = g.and_then(|g| {
                Some(GroupStandard {
                    code: g.code.clone(),
                    weight: Decimal::new(o.adjusted_score.0, 4),
                    mean_cost: o.expected_cost.or(g.avg_cost)?,
                    base_level: g.base_level,
                })
            });
            let name = g.map_or(String::new(), |g| {
                if g.procedures.is_empty() {
                    format!("{} {}", g.dx, g.class.zh())
                } else {
                    format!("{} + {}", g.dx, g.procedures.join("+"))
                }
            });
            let grouped = Grouped {
                mdc: String::new(),
                adrg: String::new(),
                drg: g.map_or_else(|| "0000".to_owned(), |g| g.code.clone()),
                drg_name: name,
                status: if g.is_some() { "grouped".to_owned() } else { "ungroupable: 未入组".to_owned() },
                standard,
            };
            let t = if trace { format!("DIP 病种库 {}\n{}", dg.library().manifest.version, dg.trace(&o)) } else { String::new() };
            return (grouped, t);
        }
        let codes = CaseCodes::of(c);
        let dx: Vec<&str> = codes.dx.iter().map(String::as_str).collect();
        let procs: Vec<&str> = codes.procs.iter().map(String::as_str).collect();
        let case = drg_case(c, &dx, &procs);
        let g = self.grouper.group(&case);
        let t = if trace { drg::explain(self.grouper.scheme(), &case).render(drg::Lang::Zh) } else { String::new() };
        let gc = self.grouper.codes_of(&g);
        let grouped = Grouped {
            mdc: gc.mdc.to_owned(),
            adrg: gc.adrg.to_owned(),
            drg: gc.drg.to_owned(),
            drg_name: gc.drg_name.to_owned(),
            status: match g.status {
                drg::Status::Grouped => "grouped".to_owned(),
                drg::Status::Ambiguous => format!("ambiguous: {}", g.status.zh()),
                drg::Status::Ungroupable(r) => format!("ungroupable: {}", r.zh()),
            },
            // An ambiguous case (歧义病案) has no DRG to pay by, whatever the weights table holds.
            standard: if g.status.is_grouped() { self.standards.get(gc.drg).cloned() } else { None },
        };
        (grouped, t)
    }

    /// The points of a grouped claim at the conversion rate `conv`, with the
    /// withholding QC rules the list breaks.
    pub fn points(
        &self,
        c: &Claim,
        inst: &points::Institution,
        g: &Grouped,
        special_case: bool,
        conv: &points::Conversion,
        withheld: &[String],
    ) -> points::Points {
        let input = CaseInput {
            case_id: &c.case_id,
            group: g.standard.as_ref(),
            total_cost: c.total_cost.unwrap_or_default(),
            innovative_drug_cost: c.innovative_drug_cost.unwrap_or_default(),
            los: c.los.unwrap_or(0),
            main_dx: c.main_diagnosis.as_deref().unwrap_or(""),
            special_case,
            withheld,
        };
        points::price(&self.params, conv, inst, &input)
    }

    /// Group, explain and price one record at the rate of its year (`conv`; Err:
    /// why the rate is unknown, and the points that need it are pending).
    pub fn price(
        &self,
        rec: &Record,
        inst: &points::Institution,
        conv: &Result<points::Conversion, String>,
        withheld: &[String],
    ) -> Priced {
        let c = &rec.claim;
        let (g, trace) = self.group(c, inst, true);
        let (p, pending) = match conv {
            Ok(conv) => (self.points(c, inst, &g, false, conv, withheld), None),
            Err(why) => {
                // Priced at a unit rate only to learn whether anything converts.
                let p = self.points(c, inst, &g, false, &points::Conversion::fixed(Decimal::ONE), withheld);
                let pending = p.yuan_per_point.is_some().then(|| why.clone());
                (p, pending)
            }
        };
        Priced {
            mdc: g.mdc,
            adrg: g.adrg,
            drg: g.drg,
            drg_name: g.drg_name,
            status: g.status,
            trace,
            points: p,
            pending,
        }
    }
}

/// A DIP library configuration: the texts of the library's files by file name
/// (`manifest.json`, `groups.tsv`, optional `proc_classes.tsv`, `surgical.tsv`,
/// `cci_weights.tsv`, `aux.tsv`), as a JSON object.
pub fn compile_library(text: &str) -> Result<dip::Grouper, String> {
    let files: HashMap<String, String> =
        serde_json::from_str(text).map_err(|e| format!("DIP library configuration: a JSON object of file name → text: {e}"))?;
    let lib = dip::Library::from_files(|n| files.get(n).cloned()).map_err(|e| format!("DIP library: {e}"))?;
    // The region's deviation rule is in the points parameters: the library's is
    // switched off so it applies once (as `drgdip points --library`).
    let mut gp = lib.manifest.grouping.clone();
    gp.deviation.enabled = false;
    dip::Grouper::with_params(lib, gp).map_err(|e| format!("DIP library: {e}"))
}

/// The configuration text of a library (for uploads).
pub fn library_config(lib: &dip::Library) -> String {
    let m: std::collections::BTreeMap<&str, String> = lib.to_files().into_iter().collect();
    serde_json::to_string(&m).unwrap_or_default()
}

/// Yuan (decimal) to fen, rounded half away from zero; saturates far outside any real amount.
pub fn yuan_to_fen(y: Decimal) -> Fen {
    use rust_decimal::prelude::ToPrimitive;
    let f = (y * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    Fen(f.to_i64().unwrap_or(if f.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    }))
}

/// Discharge month `YYYY-MM` and date `YYYY-MM-DD` of a claim.
pub fn period_of(c: &Claim) -> (String, Option<String>) {
    match c.discharged_at {
        Some(t) => (
            t.format("%Y-%m").to_string(),
            Some(t.format("%Y-%m-%d").to_string()),
        ),
        None => ("unknown".to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standards_parse_and_locate_errors() {
        let s = parse_standards("code,rw,mean_cost,base_level\nBR21,1.2345,12000.50,0\nXX,0,0,0\n")
            .expect("parses");
        assert_eq!(s.len(), 1);
        assert_eq!(s["BR21"].mean_cost, Fen(1_200_050));
        let e = parse_standards("code,rw,mean_cost\nBR21,abc,1\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("rw"), "{e}");
        assert!(parse_standards("code,mean_cost\n")
            .unwrap_err()
            .contains("no rw column"));
    }

    #[test]
    fn fen_rounding() {
        assert_eq!(yuan_to_fen(Decimal::new(12345, 3)), Fen(1235));
        assert_eq!(yuan_to_fen(Decimal::new(-5, 3)), Fen(-1));
    }
}
