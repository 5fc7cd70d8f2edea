//! Indicators (运行监测指标) per region, institution, level, department and
//! DRG, per month, quarter and year, with the same period of the year before.
//!
//! Definitions (formulas in `docs/MONITORING.md`):
//! * 入组率 = grouped cases / cases.
//! * 总权重 = Σ RW of grouped cases; CMI = 总权重 / grouped cases.
//! * 费用消耗指数 = Σ_g (avg cost of the unit in g / avg cost of the region in g) × n_g / Σ_g n_g,
//!   which equals the mean over the unit's grouped cases of cost / region average of its group;
//!   时间消耗指数 the same with length of stay. Region averages are those of the same period.
//! * 低风险组: DRGs whose z-score of ln(RW) (over all DRGs with a weight) is below −1;
//!   低风险组死亡率 = deaths / cases in those groups.
//! * 个人负担比 (self-pay ratio) = (自付 + 自费) / total cost; 自费比 (out-of-scope ratio) = 自费 / total cost.
//!
//! Amounts are summed in integer fen; ratios are `f64`.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::model::{Case, Dataset, NO_GROUP};

/// Calendar granularity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
}

/// A period by discharge date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Period {
    pub kind: PeriodKind,
    pub year: i32,
    /// Month 1–12, quarter 1–4, 0 for a year.
    pub n: u32,
}

impl Period {
    pub fn month(year: i32, m: u32) -> Period {
        Period {
            kind: PeriodKind::Month,
            year,
            n: m,
        }
    }
    pub fn quarter(year: i32, q: u32) -> Period {
        Period {
            kind: PeriodKind::Quarter,
            year,
            n: q,
        }
    }
    pub fn year(year: i32) -> Period {
        Period {
            kind: PeriodKind::Year,
            year,
            n: 0,
        }
    }
    /// The same period a year before.
    pub fn previous_year(self) -> Period {
        Period {
            year: self.year - 1,
            ..self
        }
    }
    /// Whether a discharge month falls in the period.
    pub fn contains(self, year: i32, month: u32) -> bool {
        year == self.year
            && match self.kind {
                PeriodKind::Month => month == self.n,
                PeriodKind::Quarter => (month - 1) / 3 + 1 == self.n,
                PeriodKind::Year => true,
            }
    }
}

impl std::fmt::Display for Period {
    /// `2025-03`, `2025Q1`, `2025`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            PeriodKind::Month => write!(f, "{}-{:02}", self.year, self.n),
            PeriodKind::Quarter => write!(f, "{}Q{}", self.year, self.n),
            PeriodKind::Year => write!(f, "{}", self.year),
        }
    }
}

impl std::str::FromStr for Period {
    type Err = String;
    /// Parses what [`Display`](std::fmt::Display) writes.
    fn from_str(s: &str) -> Result<Period, String> {
        let s = s.trim();
        let bad = || format!("not a period (2025, 2025Q1 or 2025-03): {s}");
        if let Some((y, q)) = s.split_once(['Q', 'q']) {
            let (y, q) = (y.parse().map_err(|_| bad())?, q.parse().map_err(|_| bad())?);
            return if (1..=4).contains(&q) {
                Ok(Period::quarter(y, q))
            } else {
                Err(bad())
            };
        }
        if let Some((y, m)) = s.split_once('-') {
            let (y, m) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            return if (1..=12).contains(&m) {
                Ok(Period::month(y, m))
            } else {
                Err(bad())
            };
        }
        s.parse().map(Period::year).map_err(|_| bad())
    }
}

/// What a row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Dim {
    Region,
    /// Index into [`Dataset::institutions`].
    Institution(u32),
    /// Index into [`Dataset::levels`].
    Level(u32),
    /// Institution and index into [`Dataset::departments`].
    Department(u32, u32),
    /// Index into [`Dataset::groups`].
    Group(u32),
}

/// The indicator values of one unit in one period.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Values {
    pub cases: u64,
    pub grouped: u64,
    /// 入组率.
    pub group_in_rate: f64,
    /// DRG组数: distinct DRGs with cases.
    pub drg_count: u32,
    /// 总权重.
    pub total_weight: f64,
    pub cmi: f64,
    /// 时间消耗指数.
    pub time_index: f64,
    /// 费用消耗指数.
    pub cost_index: f64,
    pub avg_los: f64,
    /// Total cost, fen.
    pub total_cost: i64,
    /// Average cost per case, fen (rounded half up).
    pub avg_cost: i64,
    /// Fund paid, fen.
    pub fund: i64,
    /// 个人负担比: (自付 + 自费) / total cost.
    pub self_pay_ratio: f64,
    /// 自费比: 自费 / total cost.
    pub out_of_scope_ratio: f64,
    /// Fund paid / total cost.
    pub fund_ratio: f64,
    pub deaths: u64,
    pub transfers: u64,
    pub transfer_rate: f64,
    pub low_risk_cases: u64,
    pub low_risk_deaths: u64,
    /// 低风险组死亡率 (`None` without low-risk cases).
    pub low_risk_mortality: Option<f64>,
    /// QC pass rate among cases with a QC result (`None`: not given).
    pub qc_pass_rate: Option<f64>,
    /// Share of special cases among cases with the flag (`None`: not given).
    pub special_share: Option<f64>,
    /// Fund of grouped cases of DRG/DIP-paid institutions / all fund (`None`: payment method not given).
    pub fund_coverage: Option<f64>,
}

/// One row of the indicator table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    pub dim: Dim,
    pub period: Period,
    pub v: Values,
    /// The same unit in the same period a year before, when it had cases.
    pub prev: Option<Values>,
}

/// Relative change `cur / prev − 1` (`None` when there is no base).
pub fn change(cur: f64, prev: Option<f64>) -> Option<f64> {
    match prev {
        Some(p) if p != 0.0 && p.is_finite() && cur.is_finite() => Some(cur / p - 1.0),
        _ => None,
    }
}

/// All indicators of a dataset.
#[derive(Clone, Debug, Default)]
pub struct Indicators {
    pub rows: Vec<Row>,
    /// Per DRG: whether it is a low-risk group.
    pub low_risk: Vec<bool>,
    /// Per DRG: z-score of ln(RW) (NaN without a weight).
    pub rw_z: Vec<f64>,
    /// Per year: institutions with cases that are DRG/DIP-paid / institutions with cases
    /// (`None` when the payment method is not given).
    pub institution_coverage: Vec<(i32, Option<f64>)>,
    /// Discharge years, ascending.
    pub years: Vec<i32>,
}

impl Indicators {
    /// The row of a unit in a period.
    pub fn get(&self, dim: Dim, period: Period) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.dim == dim && r.period == period)
    }
}

/// Low-risk DRGs: z = (ln RW − mean) / sd over DRGs with RW > 0 (sample sd); low when z < −1.
pub fn low_risk_groups(rw: &[f64]) -> (Vec<bool>, Vec<f64>) {
    let logs: Vec<f64> = rw.iter().filter(|w| **w > 0.0).map(|w| w.ln()).collect();
    let n = logs.len() as f64;
    if logs.len() < 2 {
        return (vec![false; rw.len()], vec![f64::NAN; rw.len()]);
    }
    let mean = logs.iter().sum::<f64>() / n;
    let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let z: Vec<f64> = rw
        .iter()
        .map(|&w| {
            if w > 0.0 && sd > 0.0 {
                (w.ln() - mean) / sd
            } else {
                f64::NAN
            }
        })
        .collect();
    (z.iter().map(|z| *z < -1.0).collect(), z)
}

#[derive(Clone, Copy, Default)]
struct Acc {
    cases: u64,
    grouped: u64,
    weight: f64,
    los: u64,
    cost: i64,
    self_pay: i64,
    self_expense: i64,
    fund: i64,
    fund_drg: i64,
    cost_ratio: f64,
    los_ratio: f64,
    deaths: u64,
    transfers: u64,
    low: u64,
    low_deaths: u64,
    qc_given: u64,
    qc_pass: u64,
    special_given: u64,
    special: u64,
}

impl Acc {
    fn merge(&mut self, o: &Acc) {
        self.cases += o.cases;
        self.grouped += o.grouped;
        self.weight += o.weight;
        self.los += o.los;
        self.cost += o.cost;
        self.self_pay += o.self_pay;
        self.self_expense += o.self_expense;
        self.fund += o.fund;
        self.fund_drg += o.fund_drg;
        self.cost_ratio += o.cost_ratio;
        self.los_ratio += o.los_ratio;
        self.deaths += o.deaths;
        self.transfers += o.transfers;
        self.low += o.low;
        self.low_deaths += o.low_deaths;
        self.qc_given += o.qc_given;
        self.qc_pass += o.qc_pass;
        self.special_given += o.special_given;
        self.special += o.special;
    }
}

/// Layout of the accumulator table: dims × periods.
struct Layout {
    y0: i32,
    ny: usize,
    n_inst: usize,
    n_level: usize,
    n_dept: usize,
    n_group: usize,
}

impl Layout {
    fn periods(&self) -> usize {
        self.ny * 17
    }
    fn dims(&self) -> usize {
        1 + self.n_inst + self.n_level + self.n_dept + self.n_group
    }
    /// Period slots of a case: month, quarter, year.
    fn slots(&self, c: &Case) -> [usize; 3] {
        let d = crate::model::date(c.discharged);
        let yi = (chrono::Datelike::year(&d) - self.y0) as usize;
        let m = chrono::Datelike::month(&d) as usize - 1;
        [
            yi * 12 + m,
            self.ny * 12 + yi * 4 + m / 3,
            self.ny * 16 + yi,
        ]
    }
    fn period(&self, slot: usize) -> Period {
        let ny = self.ny;
        if slot < ny * 12 {
            Period::month(self.y0 + (slot / 12) as i32, (slot % 12) as u32 + 1)
        } else if slot < ny * 16 {
            let s = slot - ny * 12;
            Period::quarter(self.y0 + (s / 4) as i32, (s % 4) as u32 + 1)
        } else {
            Period::year(self.y0 + (slot - ny * 16) as i32)
        }
    }
    fn slot_of(&self, p: Period) -> Option<usize> {
        if p.year < self.y0 || (p.year - self.y0) as usize >= self.ny {
            return None;
        }
        let yi = (p.year - self.y0) as usize;
        Some(match p.kind {
            PeriodKind::Month => yi * 12 + p.n as usize - 1,
            PeriodKind::Quarter => self.ny * 12 + yi * 4 + p.n as usize - 1,
            PeriodKind::Year => self.ny * 16 + yi,
        })
    }
    fn dim_index(&self, d: Dim) -> usize {
        match d {
            Dim::Region => 0,
            Dim::Institution(i) => 1 + i as usize,
            Dim::Level(l) => 1 + self.n_inst + l as usize,
            // Department dims are numbered by pair index; see `dept_pairs`.
            Dim::Department(..) => unreachable!("department dims are indexed by pair"),
            Dim::Group(g) => 1 + self.n_inst + self.n_level + self.n_dept + g as usize,
        }
    }
}

/// Compute every indicator. `rw[g]` is the relative weight of DRG `g` of
/// [`Dataset::groups`] (0 when it has none).
pub fn compute(data: &Dataset, rw: &[f64]) -> Indicators {
    let years = data.years();
    if years.is_empty() {
        return Indicators::default();
    }
    let levels = data.levels();
    let level_of = data.level_of_institutions();
    // (institution, department) pairs.
    let mut pair_map: FxHashMap<(u32, u32), u32> = FxHashMap::default();
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    let case_pair: Vec<u32> = data
        .cases
        .iter()
        .map(|c| {
            *pair_map.entry((c.inst, c.dept)).or_insert_with(|| {
                pairs.push((c.inst, c.dept));
                pairs.len() as u32 - 1
            })
        })
        .collect();
    let lay = Layout {
        y0: years[0],
        ny: (years[years.len() - 1] - years[0] + 1) as usize,
        n_inst: data.institutions.len(),
        n_level: levels.len(),
        n_dept: pairs.len(),
        n_group: data.groups.len(),
    };
    let (low_risk, rw_z) = low_risk_groups(rw);
    let np = lay.periods();
    let ng = lay.n_group;

    // Pass 1: region averages per (period, group).
    // One accumulator per worker job: a few jobs per thread.
    let chunk = data
        .cases
        .len()
        .div_ceil(rayon::current_num_threads() * 2)
        .max(1 << 14);
    let norms: Vec<(u64, i64, u64)> = data
        .cases
        .par_chunks(chunk)
        .fold(
            || vec![(0u64, 0i64, 0u64); np * ng],
            |mut acc, cs| {
                for c in cs.iter().filter(|c| c.drg != NO_GROUP) {
                    for s in lay.slots(c) {
                        let a = &mut acc[s * ng + c.drg as usize];
                        a.0 += 1;
                        a.1 += c.total;
                        a.2 += u64::from(c.los);
                    }
                }
                acc
            },
        )
        .reduce(
            || vec![(0u64, 0i64, 0u64); np * ng],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(&b) {
                    x.0 += y.0;
                    x.1 += y.1;
                    x.2 += y.2;
                }
                a
            },
        );
    // Reciprocals of the region averages (0 when the average is 0).
    let inv: Vec<(f64, f64)> = norms
        .iter()
        .map(|&(n, cost, los)| {
            let ic = if cost > 0 {
                n as f64 / cost as f64
            } else {
                0.0
            };
            let il = if los > 0 { n as f64 / los as f64 } else { 0.0 };
            (ic, il)
        })
        .collect();
    let paid: Vec<bool> = data
        .institutions
        .iter()
        .map(|i| i.drg_dip == Some(true))
        .collect();
    let coverage_known = data.institutions.iter().any(|i| i.drg_dip.is_some());

    // Pass 2: accumulate per (dim, period), with a bitset of DRGs seen.
    let nd = lay.dims();
    let words = ng.div_ceil(64).max(1);
    let idx: Vec<usize> = (0..data.cases.len()).collect();
    let (accs, bits) = idx
        .par_chunks(chunk)
        .fold(
            || (vec![Acc::default(); nd * np], vec![0u64; nd * np * words]),
            |(mut acc, mut bits), ix| {
                for &i in ix {
                    let c = &data.cases[i];
                    let dims = [
                        0,
                        lay.dim_index(Dim::Institution(c.inst)),
                        lay.dim_index(Dim::Level(level_of[c.inst as usize])),
                        1 + lay.n_inst + lay.n_level + case_pair[i] as usize,
                        if c.drg != NO_GROUP {
                            lay.dim_index(Dim::Group(c.drg))
                        } else {
                            usize::MAX
                        },
                    ];
                    let grouped = c.drg != NO_GROUP;
                    let g = c.drg as usize;
                    let w = if grouped {
                        rw.get(g).copied().unwrap_or(0.0)
                    } else {
                        0.0
                    };
                    let low = grouped && low_risk.get(g).copied().unwrap_or(false);
                    for s in lay.slots(c) {
                        let (rc, rl) = if grouped {
                            let (ic, il) = inv[s * ng + g];
                            (c.total as f64 * ic, f64::from(c.los) * il)
                        } else {
                            (0.0, 0.0)
                        };
                        for &d in &dims {
                            if d == usize::MAX {
                                continue;
                            }
                            let k = d * np + s;
                            let a = &mut acc[k];
                            a.cases += 1;
                            a.los += u64::from(c.los);
                            a.cost += c.total;
                            a.self_pay += c.self_pay;
                            a.self_expense += c.self_expense;
                            a.fund += c.fund;
                            a.deaths += u64::from(c.died());
                            a.transfers += u64::from(c.transferred());
                            if let Some(q) = c.qc_pass {
                                a.qc_given += 1;
                                a.qc_pass += u64::from(q);
                            }
                            if let Some(sp) = c.special {
                                a.special_given += 1;
                                a.special += u64::from(sp);
                            }
                            if grouped {
                                a.grouped += 1;
                                a.weight += w;
                                a.cost_ratio += rc;
                                a.los_ratio += rl;
                                if paid[c.inst as usize] {
                                    a.fund_drg += c.fund;
                                }
                                if low {
                                    a.low += 1;
                                    a.low_deaths += u64::from(c.died());
                                }
                                bits[k * words + g / 64] |= 1 << (g % 64);
                            }
                        }
                    }
                }
                (acc, bits)
            },
        )
        .reduce(
            || (vec![Acc::default(); nd * np], vec![0u64; nd * np * words]),
            |(mut a, mut ab), (b, bb)| {
                for (x, y) in a.iter_mut().zip(&b) {
                    x.merge(y);
                }
                for (x, y) in ab.iter_mut().zip(&bb) {
                    *x |= y;
                }
                (a, ab)
            },
        );

    let values = |k: usize| -> Values {
        let a = &accs[k];
        let drg_count = bits[k * words..(k + 1) * words]
            .iter()
            .map(|w| w.count_ones())
            .sum();
        values_of(a, drg_count, coverage_known)
    };
    let dim_of = |d: usize| -> Dim {
        if d == 0 {
            Dim::Region
        } else if d < 1 + lay.n_inst {
            Dim::Institution((d - 1) as u32)
        } else if d < 1 + lay.n_inst + lay.n_level {
            Dim::Level((d - 1 - lay.n_inst) as u32)
        } else if d < 1 + lay.n_inst + lay.n_level + lay.n_dept {
            let (i, dp) = pairs[d - 1 - lay.n_inst - lay.n_level];
            Dim::Department(i, dp)
        } else {
            Dim::Group((d - 1 - lay.n_inst - lay.n_level - lay.n_dept) as u32)
        }
    };
    let mut rows = Vec::new();
    for d in 0..nd {
        for s in 0..np {
            let k = d * np + s;
            if accs[k].cases == 0 {
                continue;
            }
            let period = lay.period(s);
            let prev = lay
                .slot_of(period.previous_year())
                .map(|ps| d * np + ps)
                .filter(|&pk| accs[pk].cases > 0)
                .map(values);
            rows.push(Row {
                dim: dim_of(d),
                period,
                v: values(k),
                prev,
            });
        }
    }
    let institution_coverage = years
        .iter()
        .map(|&y| {
            if !coverage_known {
                return (y, None);
            }
            let s = lay.slot_of(Period::year(y)).expect("year in range");
            let (mut with, mut covered) = (0u32, 0u32);
            for i in 0..lay.n_inst {
                if accs[(1 + i) * np + s].cases > 0 {
                    with += 1;
                    covered += u32::from(paid[i]);
                }
            }
            (y, (with > 0).then(|| f64::from(covered) / f64::from(with)))
        })
        .collect();
    Indicators {
        rows,
        low_risk,
        rw_z,
        institution_coverage,
        years,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

fn values_of(a: &Acc, drg_count: u32, coverage_known: bool) -> Values {
    let n = a.cases as f64;
    let g = a.grouped as f64;
    let cost = a.cost as f64;
    Values {
        cases: a.cases,
        grouped: a.grouped,
        group_in_rate: ratio(g, n),
        drg_count,
        total_weight: a.weight,
        cmi: ratio(a.weight, g),
        time_index: ratio(a.los_ratio, g),
        cost_index: ratio(a.cost_ratio, g),
        avg_los: ratio(a.los as f64, n),
        total_cost: a.cost,
        avg_cost: weights::mean_fen(i128::from(a.cost), a.cases).0,
        fund: a.fund,
        self_pay_ratio: ratio((a.self_pay + a.self_expense) as f64, cost),
        out_of_scope_ratio: ratio(a.self_expense as f64, cost),
        fund_ratio: ratio(a.fund as f64, cost),
        deaths: a.deaths,
        transfers: a.transfers,
        transfer_rate: ratio(a.transfers as f64, n),
        low_risk_cases: a.low,
        low_risk_deaths: a.low_deaths,
        low_risk_mortality: (a.low > 0).then(|| a.low_deaths as f64 / a.low as f64),
        qc_pass_rate: (a.qc_given > 0).then(|| a.qc_pass as f64 / a.qc_given as f64),
        special_share: (a.special_given > 0).then(|| a.special as f64 / a.special_given as f64),
        fund_coverage: (coverage_known && a.fund != 0).then(|| a.fund_drg as f64 / a.fund as f64),
    }
}

/// Relative weights from the dataset itself with the `weights` crate's
/// calibration (trimmed group average / overall average), one per DRG of
/// [`Dataset::groups`], as `f64`.
pub fn calibrate_rw(data: &Dataset, opts: &weights::Options) -> Vec<f64> {
    let keys: Vec<weights::GroupKey> = data
        .groups
        .iter()
        .map(|g| weights::GroupKey {
            code: g.code.clone(),
            parent: data.adrgs[g.adrg as usize].clone(),
        })
        .collect();
    let mut costs: Vec<Vec<i64>> = vec![Vec::new(); keys.len()];
    for c in data.cases.iter().filter(|c| c.drg != NO_GROUP) {
        costs[c.drg as usize].push(c.total);
    }
    let cal = weights::calibrate(&keys, costs, opts);
    cal.groups
        .iter()
        .map(|g| rust_decimal::prelude::ToPrimitive::to_f64(&g.rw).unwrap_or(0.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_print() {
        for s in ["2025", "2025Q3", "2025-03"] {
            assert_eq!(s.parse::<Period>().unwrap().to_string(), s);
        }
        assert!("2025Q5".parse::<Period>().is_err());
        assert!("2025-13".parse::<Period>().is_err());
        assert!(Period::quarter(2025, 2).contains(2025, 6));
        assert!(!Period::quarter(2025, 2).contains(2025, 7));
    }

    #[test]
    fn low_risk_by_z_score() {
        // ln RW = -2, -1, 0, 1, 2 → mean 0, sd sqrt(2.5) ≈ 1.58; z < -1 only for -2.
        let rw: Vec<f64> = [-2.0f64, -1.0, 0.0, 1.0, 2.0]
            .iter()
            .map(|l| l.exp())
            .collect();
        let (low, z) = low_risk_groups(&rw);
        assert_eq!(low, vec![true, false, false, false, false]);
        assert!((z[0] + 2.0 / 2.5f64.sqrt()).abs() < 1e-12);
    }
}
