//! The parameter file: one per region and year, every value citing its seed article
//! (see `crates/points/params/default.toml` and docs/PARAMS.md).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::price::Institution;

/// The built-in defaults (`crates/points/params/default.toml`).
pub const DEFAULT_PARAMS: &str = include_str!("../params/default.toml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Drg,
    Dip,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub region: String,
    pub year: u16,
    pub version: String,
    pub method: Method,
    pub drg: DrgParams,
    pub dip: DipParams,
    pub coefficients: Coefficients,
    pub outliers: Outliers,
    pub fee_for_service: FeeForService,
    pub per_diem: PerDiem,
    pub innovative_drugs: InnovativeDrugs,
    pub alliance: Alliance,
    pub special_cases: SpecialCases,
}

/// The special-case quota (特例单议, seed 003 三(一)): at most this share of an
/// institution's discharges in a quarter, rounded up.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialCases {
    /// Share of DRG discharges (5 %).
    pub drg_quota: Decimal,
    /// Share of DIP discharges (5 ‰).
    pub dip_quota: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrgParams {
    pub points_per_rw: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DipParams {
    pub score_scale: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coefficients {
    pub by_level: BTreeMap<String, Decimal>,
    #[serde(default)]
    pub overrides: BTreeMap<String, Decimal>,
    pub base_level_group: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Upper bound of RW for this band (inclusive); absent for the last band.
    pub rw_max: Option<Decimal>,
    pub k: Decimal,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outliers {
    pub drg_high: Vec<Band>,
    pub drg_low: Decimal,
    pub dip_high: Decimal,
    pub dip_low: Decimal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UngroupablePay {
    FeeForService,
    Zero,
}

/// How money converts to points for the methods priced in yuan (fee-for-service,
/// per-diem, capitation, drug add-on): seed 002 §24–§25.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateSetting {
    /// The history year's cost per point of its DRG/DIP cases, computed at run
    /// time ([`crate::Conversion::resolve`]): the same base as the group points.
    Derived,
    /// A rate fixed for the year (yuan per point), e.g. agreed in negotiation.
    Fixed(Decimal),
}

impl<'de> Deserialize<'de> for RateSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "derived" {
            return Ok(RateSetting::Derived);
        }
        s.trim().parse::<Decimal>().map(RateSetting::Fixed).map_err(|_| {
            serde::de::Error::custom(format!("must be \"derived\" or a decimal number of yuan, is {s:?}"))
        })
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeForService {
    /// Yuan per point: `"derived"` (default) or a fixed rate.
    pub yuan_per_point: RateSetting,
    pub ungroupable_other: UngroupablePay,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerDiemCategory {
    pub name: String,
    pub dx_prefixes: Vec<String>,
    /// Yuan per day: fixed, or `"derived"` (the history year's cost per day of the
    /// category's cases).
    pub yuan_per_day: RateSetting,
    pub min_los: u32,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerDiem {
    /// Long-stay categories; their points are yuan_per_day × days converted at the
    /// region's rate (yuan per point), i.e. the per-diem standard compared with the
    /// all-group average cost per case (seed 002 §25).
    pub categories: Vec<PerDiemCategory>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InnovativeDrugs {
    pub add_on: bool,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alliance {
    pub credit_to_lead: bool,
}

/// A parameter file that cannot be used: every problem with its key path, value, line
/// and reason (see [`check::Invalid`]).
pub type ParamsError = check::Invalid;

/// The institution levels (医疗机构级别) `coefficients.by_level` and institutions
/// tables may name.
pub const LEVELS: [&str; 4] = ["三级", "二级", "一级", "基层"];

/// The allowed ranges, as documented in docs/PARAMS.md.
pub mod bounds {
    use check::{dec, Interval};

    /// Region years.
    pub const YEARS: (u16, u16) = (2000, 2100);
    /// `drg.points_per_rw`
    pub fn points_per_rw() -> Interval {
        Interval::open_closed(dec("0"), dec("10000"))
    }
    /// `dip.score_scale`
    pub fn score_scale() -> Interval {
        Interval::open_closed(dec("0"), dec("100"))
    }
    /// Every coefficient (`by_level`, `overrides`, `base_level_group`).
    pub fn coefficient() -> Interval {
        Interval::open_closed(dec("0"), dec("3"))
    }
    /// `outliers.drg_high[].k`, `outliers.dip_high`: above the group average.
    pub fn high() -> Interval {
        Interval::open_closed(dec("1"), dec("20"))
    }
    /// `outliers.drg_high[].rw_max`
    pub fn rw_max() -> Interval {
        Interval::open_closed(dec("0"), dec("100"))
    }
    /// `outliers.drg_low`, `outliers.dip_low`: below the group average.
    pub fn low() -> Interval {
        Interval::open(dec("0"), dec("1"))
    }
    /// `fee_for_service.yuan_per_point`
    pub fn yuan_per_point() -> Interval {
        Interval::open_closed(dec("0"), dec("100000"))
    }
    /// `special_cases.drg_quota`, `dip_quota`
    pub fn quota() -> Interval {
        Interval::closed(dec("0"), dec("1"))
    }
    /// `per_diem.categories[].yuan_per_day`
    pub fn yuan_per_day() -> Interval {
        Interval::open_closed(dec("0"), dec("100000"))
    }
    /// `per_diem.categories[].min_los` (days)
    pub const MIN_LOS: (u32, u32) = (1, 365);
}

impl Params {
    /// Parse and check a parameter file: unknown keys, types, ranges and consistency;
    /// every problem found is reported with its key, value, line and reason.
    pub fn from_toml(src: &str) -> Result<Params, ParamsError> {
        let p: Params = toml::from_str(src)
            .map_err(|e| check::Invalid { what: "points parameters", problems: vec![check::toml_problem(src, &e)] })?;
        let mut problems = p.problems();
        problems.locate(src);
        problems.finish("points parameters")?;
        Ok(p)
    }

    pub fn builtin() -> Params {
        // Tested to load; failing here is a build defect.
        Params::from_toml(DEFAULT_PARAMS).expect("built-in parameters load")
    }

    /// Check parameters built in code (as [`Params::from_toml`] does after parsing).
    pub fn validate(&self) -> Result<(), ParamsError> {
        self.problems().finish("points parameters")
    }

    fn problems(&self) -> check::Problems {
        use check::Problems;
        let mut p = Problems::new();
        p.nonempty("region", &self.region);
        p.nonempty("version", &self.version);
        p.int_range("year", self.year, bounds::YEARS.0, bounds::YEARS.1, "the year the parameters apply to");
        p.range("drg.points_per_rw", self.drg.points_per_rw, bounds::points_per_rw(), "points of RW 1");
        p.range("dip.score_scale", self.dip.score_scale, bounds::score_scale(), "");

        let c = &self.coefficients;
        if c.by_level.is_empty() {
            p.push("coefficients.by_level", "must give the coefficient of every level the institutions have");
        }
        for (level, v) in &c.by_level {
            let key = format!("coefficients.by_level.{level}");
            if !LEVELS.contains(&level.as_str()) {
                p.push(key.clone(), format!("unknown level {level:?}: one of {}", LEVELS.join(", ")));
            }
            p.range(key, *v, bounds::coefficient(), "");
        }
        for (inst, v) in &c.overrides {
            let key = format!("coefficients.overrides.{inst}");
            if inst.trim().is_empty() {
                p.push(key.clone(), "an empty institution id");
            }
            p.range(key, *v, bounds::coefficient(), "");
        }
        p.range("coefficients.base_level_group", c.base_level_group, bounds::coefficient(), "");

        let o = &self.outliers;
        match o.drg_high.last() {
            None => p.push("outliers.drg_high", "needs at least one band (the last without rw_max)"),
            Some(b) if b.rw_max.is_some() => p.push(
                format!("outliers.drg_high[{}].rw_max", o.drg_high.len() - 1),
                "the last band must have no rw_max (it covers every larger RW)",
            ),
            Some(_) => {}
        }
        let mut prev: Option<Decimal> = None;
        for (i, b) in o.drg_high.iter().enumerate() {
            p.range(format!("outliers.drg_high[{i}].k"), b.k, bounds::high(), "k × the group average is the high-ratio threshold");
            match b.rw_max {
                Some(m) => {
                    p.range(format!("outliers.drg_high[{i}].rw_max"), m, bounds::rw_max(), "");
                    if let Some(pm) = prev {
                        p.ensure(m > pm, format!("outliers.drg_high[{i}].rw_max"), m, format!("must be above the previous band's rw_max {pm}"));
                    }
                    prev = Some(m);
                }
                None if i + 1 < o.drg_high.len() => {
                    p.push(format!("outliers.drg_high[{i}].rw_max"), "missing: only the last band may omit rw_max")
                }
                None => {}
            }
        }
        p.range("outliers.drg_low", o.drg_low, bounds::low(), "a fraction of the group average");
        p.range("outliers.dip_high", o.dip_high, bounds::high(), "a multiple of the group average");
        p.range("outliers.dip_low", o.dip_low, bounds::low(), "a fraction of the group average");

        if let RateSetting::Fixed(r) = self.fee_for_service.yuan_per_point {
            p.range("fee_for_service.yuan_per_point", r, bounds::yuan_per_point(), "yuan per point, or \"derived\"");
        }
        let pd = &self.per_diem;
        for (i, cat) in pd.categories.iter().enumerate() {
            let key = |k: &str| format!("per_diem.categories[{i}].{k}");
            p.nonempty(key("name"), &cat.name);
            if cat.dx_prefixes.is_empty() {
                p.push(key("dx_prefixes"), "needs at least one main-diagnosis prefix");
            }
            for (j, pre) in cat.dx_prefixes.iter().enumerate() {
                let k = format!("per_diem.categories[{i}].dx_prefixes[{j}]");
                if pre.trim().is_empty() {
                    p.bad(k, format!("{pre:?}"), "an empty prefix would match every diagnosis");
                } else if pre.trim() != pre {
                    p.bad(k, format!("{pre:?}"), "leading or trailing spaces never match a code");
                }
            }
            if let RateSetting::Fixed(v) = cat.yuan_per_day {
                p.range(key("yuan_per_day"), v, bounds::yuan_per_day(), "yuan, or \"derived\"");
                p.places(key("yuan_per_day"), v, 2, "yuan to the fen");
            }
            p.int_range(key("min_los"), cat.min_los, bounds::MIN_LOS.0, bounds::MIN_LOS.1, "days");
        }
        check::unique(&mut p, pd.categories.iter().map(|c| c.name.as_str()), |i| format!("per_diem.categories[{i}].name"));
        p.range("special_cases.drg_quota", self.special_cases.drg_quota, bounds::quota(), "a share of the discharges");
        p.range("special_cases.dip_quota", self.special_cases.dip_quota, bounds::quota(), "a share of the discharges");
        p
    }

    /// Check the parameters against the institutions that will be priced with them:
    /// every institution's level must have a `coefficients.by_level` entry unless the
    /// institution has an override (there is no default coefficient), and every
    /// `coefficients.overrides` key must name one of them.
    pub fn check_roster<'a>(&self, institutions: impl IntoIterator<Item = &'a Institution>) -> Result<(), ParamsError> {
        let mut missing: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut ids = std::collections::BTreeSet::new();
        for i in institutions {
            ids.insert(i.id.as_str());
            if !self.coefficients.by_level.contains_key(&i.level) && !self.coefficients.overrides.contains_key(&i.id) {
                missing.entry(i.level.as_str()).or_default().push(i.id.as_str());
            }
        }
        let mut p = check::Problems::new();
        for (level, insts) in missing {
            let more = if insts.len() > 3 { format!(" and {} more", insts.len() - 3) } else { String::new() };
            let list: Vec<&str> = insts.iter().take(3).copied().collect();
            p.push(
                format!("coefficients.by_level.{level}"),
                format!(
                    "missing: {} {}{more} {} level {level:?}, which has no coefficient (there is no default)",
                    if insts.len() == 1 { "institution" } else { "institutions" },
                    list.join(", "),
                    if insts.len() == 1 { "has" } else { "have" },
                ),
            );
        }
        for inst in self.coefficients.overrides.keys() {
            if !ids.contains(inst.as_str()) {
                p.push(format!("coefficients.overrides.{inst}"), format!("names no institution of the institutions table ({} institutions)", ids.len()));
            }
        }
        p.finish("points parameters against the institutions")
    }

    /// The special-case quota rate of the region's method.
    pub fn special_case_rate(&self) -> Decimal {
        match self.method {
            Method::Drg => self.special_cases.drg_quota,
            Method::Dip => self.special_cases.dip_quota,
        }
    }

    /// The special-case quota of an institution with `discharges` discharges in a
    /// quarter: rate × discharges, rounded up.
    pub fn special_case_quota(&self, discharges: u64) -> u64 {
        use rust_decimal::prelude::ToPrimitive;
        (self.special_case_rate() * Decimal::from(discharges)).ceil().to_u64().unwrap_or(u64::MAX)
    }

    /// The high-ratio threshold k for a DRG of weight `rw`.
    pub fn drg_high_k(&self, rw: Decimal) -> Decimal {
        self.outliers
            .drg_high
            .iter()
            .find(|b| b.rw_max.is_none_or(|m| rw <= m))
            .map(|b| b.k)
            .unwrap_or(Decimal::ONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(from: &str, to: &str) -> String {
        assert!(DEFAULT_PARAMS.contains(from), "the default file has no {from:?}");
        DEFAULT_PARAMS.replacen(from, to, 1)
    }

    #[test]
    fn builtin_file_is_valid() {
        let p = Params::builtin();
        assert!(p.validate().is_ok());
        assert_eq!(p.coefficients.by_level.len(), LEVELS.len());
    }

    /// One row per bad value: (text in the default file, replacement, what the error says).
    const BAD: &[(&str, &str, &str)] = &[
        ("region = \"demo\"", "region = \"\"", "region = \"\" (line 7): must not be empty"),
        ("version = \"demo-2025.1\"", "version = \" \"", "version = \" \""),
        ("year = 2025", "year = 1925", "year = 1925 (line 8): must lie in 2000–2100"),
        ("points_per_rw = \"100\"", "points_per_rw = \"0\"", "drg.points_per_rw = 0 (line 16): must lie in (0, 10000]"),
        ("score_scale = \"1\"", "score_scale = \"-1\"", "dip.score_scale = -1"),
        ("\"二级\" = \"0.85\"", "\"二级\" = \"0\"", "coefficients.by_level.二级 = 0 (line 26): must lie in (0, 3]"),
        ("\"二级\" = \"0.85\"", "\"二级\" = \"8.5\"", "coefficients.by_level.二级 = 8.5"),
        ("\"基层\" = \"0.80\"", "\"社区\" = \"0.80\"", "coefficients.by_level.社区 (line 26): unknown level \"社区\""),
        ("overrides = {}", "overrides = { \"H1\" = \"-1\" }", "coefficients.overrides.H1 = -1"),
        ("base_level_group = \"1.00\"", "base_level_group = \"0\"", "coefficients.base_level_group = 0"),
        ("{ k = \"1.5\" }", "{ rw_max = \"3\", k = \"1.5\" }", "outliers.drg_high[2].rw_max (line 37): the last band must have no rw_max"),
        ("{ rw_max = \"2\", k = \"2\" }", "{ rw_max = \"0.5\", k = \"2\" }", "outliers.drg_high[1].rw_max = 0.5 (line 37): must be above the previous band's rw_max 1"),
        ("{ rw_max = \"2\", k = \"2\" }", "{ k = \"2\" }", "outliers.drg_high[1].rw_max (line 37): missing: only the last band may omit rw_max"),
        ("{ rw_max = \"1\", k = \"3\" }", "{ rw_max = \"1\", k = \"0.9\" }", "outliers.drg_high[0].k = 0.9 (line 37): must lie in (1, 20]"),
        ("drg_high = [\n  { rw_max = \"1\", k = \"3\" },\n  { rw_max = \"2\", k = \"2\" },\n  { k = \"1.5\" },\n]", "drg_high = []", "outliers.drg_high (line 37): needs at least one band"),
        ("drg_low = \"0.4\"", "drg_low = \"1.2\"", "outliers.drg_low = 1.2 (line 44): must lie in (0, 1)"),
        ("dip_high = \"2\"", "dip_high = \"1\"", "outliers.dip_high = 1"),
        ("dip_low = \"0.5\"", "dip_low = \"0\"", "outliers.dip_low = 0"),
        ("yuan_per_point = \"derived\"", "yuan_per_point = \"-100\"", "fee_for_service.yuan_per_point = -100"),
        ("yuan_per_point = \"derived\"", "yuan_per_point = \"derive\"", "must be \"derived\" or a decimal number of yuan"),
        ("drg_quota = \"0.05\"", "drg_quota = \"1.5\"", "special_cases.drg_quota = 1.5"),
        ("{ name = \"医疗康复\", dx_prefixes = [\"Z50\"]", "{ name = \"医疗康复\", dx_prefixes = [\"\"]", "per_diem.categories[1].dx_prefixes[0] = \"\" (line 75): an empty prefix would match every diagnosis"),
        ("{ name = \"医疗康复\", dx_prefixes = [\"Z50\"]", "{ name = \"医疗康复\", dx_prefixes = []", "per_diem.categories[1].dx_prefixes (line 75): needs at least one"),
        ("{ name = \"医疗康复\", dx_prefixes = [\"Z50\"]", "{ name = \"精神类疾病\", dx_prefixes = [\"Z50\"]", "per_diem.categories[1].name = \"精神类疾病\" (line 75): repeats per_diem.categories[0].name"),
        ("{ name = \"医疗康复\", dx_prefixes = [\"Z50\"]", "{ name = \"\", dx_prefixes = [\"Z50\"]", "per_diem.categories[1].name = \"\""),
        ("yuan_per_day = \"derived\", min_los = 30 },\n  { name = \"安宁疗护\"", "yuan_per_day = \"derived\", min_los = 0 },\n  { name = \"安宁疗护\"", "per_diem.categories[1].min_los = 0 (line"),
        ("yuan_per_day = \"derived\", min_los = 30 },\n  { name = \"安宁疗护\"", "yuan_per_day = \"0\", min_los = 30 },\n  { name = \"安宁疗护\"", "per_diem.categories[1].yuan_per_day = 0"),
        ("yuan_per_day = \"derived\", min_los = 30 },\n  { name = \"安宁疗护\"", "yuan_per_day = \"350.001\", min_los = 30 },\n  { name = \"安宁疗护\"", "at most 2 decimal places"),
        ("method = \"drg\"", "method = \"drgs\"", "method (line 11): unknown variant `drgs`"),
        ("points_per_rw = \"100\"", "points_per_rw = \"lots\"", "drg.points_per_rw (line 16): "),
        ("add_on = true", "add_on = \"yes\"", "innovative_drugs.add_on (line 84): invalid type"),
        ("score_scale = \"1\"", "", "dip.score_scale (line 18): missing"),
        ("year = 2025", "year = 2025\nyeer = 2025", "yeer (line 9): unknown key"),
        ("drg_low = \"0.4\"", "drg_low = \"0.4\"\ndrg_lo = \"0.4\"", "outliers.drg_lo (line 45): unknown key"),
        ("{ k = \"1.5\" }", "{ k = \"1.5\", kk = \"1\" }", "outliers.drg_high.kk (line 40): unknown key"),
        ("min_los = 15 }", "min_los = 15, max_los = 30 }", "per_diem.categories.max_los (line 78): unknown key"),
    ];

    #[test]
    fn bad_values_are_refused_with_key_line_and_reason() {
        let mut failures = Vec::new();
        for (from, to, want) in BAD {
            match Params::from_toml(&with(from, to)) {
                Ok(_) => failures.push(format!("accepted {to:?}")),
                Err(e) if !e.to_string().contains(want) => failures.push(format!("{to:?}: wanted {want:?} in\n{e}")),
                Err(_) => {}
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_table_refuses_unknown_keys() {
        let headers: Vec<&str> = DEFAULT_PARAMS.lines().filter(|l| l.starts_with('[')).collect();
        assert!(headers.len() >= 8, "{headers:?}");
        for h in headers.iter().copied().chain(["region = \"demo\""]) {
            let src = with(h, &format!("{h}\nzz_surprise = 1"));
            let e = Params::from_toml(&src).expect_err(h).to_string();
            assert!(e.contains("zz_surprise") && e.contains("unknown key"), "{h}: {e}");
        }
    }

    #[test]
    fn all_problems_of_a_file_are_reported() {
        let src = with("points_per_rw = \"100\"", "points_per_rw = \"0\"").replacen("drg_low = \"0.4\"", "drg_low = \"2\"", 1);
        let e = Params::from_toml(&src).unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
        assert!(e.to_string().starts_with("points parameters: 2 problems"), "{e}");
    }

    fn inst(id: &str, level: &str) -> Institution {
        Institution { id: id.into(), level: level.into(), tcm: false, alliance_lead: None }
    }

    #[test]
    fn the_roster_must_have_coefficients() {
        let mut p = Params::builtin();
        let roster = [inst("H1", "三级"), inst("H2", "二级"), inst("H3", "二级")];
        assert!(p.check_roster(&roster).is_ok());
        p.coefficients.by_level.remove("二级");
        let e = p.check_roster(&roster).unwrap_err().to_string();
        assert!(e.contains("coefficients.by_level.二级: missing: institutions H2, H3 have level \"二级\""), "{e}");
        p.coefficients.overrides.insert("H9".into(), Decimal::ONE);
        p.coefficients.overrides.insert("H3".into(), Decimal::ONE);
        let e = p.check_roster(&roster).unwrap_err().to_string();
        // H3 has an override: it needs no level coefficient; H2 has none.
        assert!(e.contains("coefficients.by_level.二级: missing: institution H2 has level \"二级\""), "{e}");
        assert!(e.contains("coefficients.overrides.H9: names no institution"), "{e}");
        assert!(!e.contains("overrides.H3"), "{e}");
        // Pricing without a coefficient withholds the DRG points instead of using 1.
        let g = crate::GroupStandard { code: "G".into(), weight: Decimal::ONE, mean_cost: claims::Fen(100_000), base_level: false };
        let case = crate::CaseInput {
            case_id: "c",
            group: Some(&g),
            total_cost: claims::Fen(100_000),
            innovative_drug_cost: claims::Fen::ZERO,
            los: 5,
            main_dx: "K35.800",
            special_case: false,
            withheld: &[],
        };
        let pts = crate::price(&p, &crate::Conversion::fixed(Decimal::ONE_HUNDRED), &inst("H2", "二级"), &case);
        assert!(!pts.payable && pts.withheld_reason == ["no_coefficient"], "{pts:?}");
        assert_eq!((pts.rule, pts.coefficient_source, pts.total), (crate::Rule::NoCoefficient, crate::CoefSource::Missing, Decimal::ZERO));
        assert_eq!(crate::coefficient(&p, &inst("H2", "二级"), false), (Decimal::ZERO, crate::CoefSource::Missing));
        // The override still applies, and a base-level group does not need the level.
        assert_eq!(crate::coefficient(&p, &inst("H3", "二级"), false).1, crate::CoefSource::Override);
        assert_eq!(crate::coefficient(&p, &inst("H2", "二级"), true).1, crate::CoefSource::BaseLevelGroup);
    }
}
