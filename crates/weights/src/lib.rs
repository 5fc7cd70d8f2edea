//! Relative weights (相对权重, RW) from history: seed 002 §23.
//!
//! RW of a group = the group's average cost / the average cost of all cases,
//! after trimming outlier costs. Groups with too few cases borrow the pooled
//! average of their parent (the ADRG of a DRG). A structural adjustment
//! (expert multipliers, §23 结构性调整) is re-normalised so the total weight
//! is unchanged. Statistics (trimming, CV, RIV) use f64; money (average cost)
//! is integer fen and weights are decimals rounded to a fixed number of places.

use claims::Fen;
use rust_decimal::prelude::*;
use rust_decimal::Decimal;

/// How outlier costs are trimmed before averaging, per group.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Trim {
    /// Keep cases whose ln(cost) lies within mean ± k standard deviations (default k = 3).
    LogSd { k: f64 },
    /// Keep cases between the low and high percentiles (nearest rank), e.g. 2.5 and 97.5.
    Percentile { low: f64, high: f64 },
    /// Keep every case.
    None,
}

/// Calibration parameters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Options {
    pub trim: Trim,
    /// A group with fewer kept cases borrows its parent's pooled average.
    pub min_cases: u64,
    /// Decimal places of RW.
    pub rw_places: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options { trim: Trim::LogSd { k: 3.0 }, min_cases: 10, rw_places: 4 }
    }
}

/// A group to calibrate: its code and its parent's code (ADRG for a DRG).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupKey {
    pub code: String,
    pub parent: String,
}

/// Where a group's average came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Its own cases.
    Own,
    /// The pooled cases of its parent (too few of its own).
    Parent,
    /// Its own cases although fewer than the minimum (the parent has too few as well).
    OwnFew,
    /// No case at all: no weight.
    NoData,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Own => "own",
            Source::Parent => "parent",
            Source::OwnFew => "own_few",
            Source::NoData => "no_data",
        }
    }
}

/// The calibrated weight of one group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupWeight {
    pub code: String,
    pub parent: String,
    /// Cases of the group before trimming.
    pub cases: u64,
    /// Cases kept after trimming.
    pub kept: u64,
    /// Average cost of the kept cases (or of the parent's, see `source`), rounded half up to the fen.
    pub mean: Fen,
    /// Coefficient of variation of the kept cases' costs (0 when fewer than 2).
    pub cv: f64,
    pub rw: Decimal,
    pub source: Source,
}

/// The result of a calibration.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub groups: Vec<GroupWeight>,
    /// Average cost of all kept cases.
    pub overall_mean: Fen,
    pub cases: u64,
    pub kept: u64,
    /// Reduction in variance of kept costs explained by the grouping: 1 − SSW / SST.
    pub riv: f64,
    /// Share of groups with data whose CV is below 1.
    pub share_cv_below_1: f64,
}

/// Mean of integer fen amounts, rounded half up to the fen.
pub fn mean_fen(sum: i128, n: u64) -> Fen {
    if n == 0 {
        return Fen::ZERO;
    }
    let n = n as i128;
    Fen(((2 * sum + n).div_euclid(2 * n)) as i64)
}

fn trim(costs: &mut [i64], how: Trim) -> &[i64] {
    match how {
        Trim::None => costs,
        Trim::Percentile { low, high } => {
            costs.sort_unstable();
            let n = costs.len();
            if n == 0 {
                return costs;
            }
            // Nearest-rank percentiles: rank = ceil(p/100 × n), 1-based.
            let rank = |p: f64| ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
            let lo = rank(low) - 1;
            let hi = rank(high);
            &costs[lo..hi.max(lo)]
        }
        Trim::LogSd { k } => {
            let n = costs.len();
            if n < 3 {
                return costs;
            }
            let logs = costs.iter().map(|&c| (c.max(1) as f64).ln());
            let mean = logs.clone().sum::<f64>() / n as f64;
            let var = logs.map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let sd = var.sqrt();
            let (lo, hi) = (mean - k * sd, mean + k * sd);
            costs.sort_unstable();
            let keep = |c: &i64| {
                let l = ((*c).max(1) as f64).ln();
                l >= lo && l <= hi
            };
            let start = costs.iter().position(keep).unwrap_or(n);
            let end = costs.iter().rposition(keep).map(|i| i + 1).unwrap_or(start);
            &costs[start..end.max(start)]
        }
    }
}

fn cv(costs: &[i64]) -> f64 {
    let n = costs.len();
    if n < 2 {
        return 0.0;
    }
    let mean = costs.iter().map(|&c| c as f64).sum::<f64>() / n as f64;
    if mean == 0.0 {
        return 0.0;
    }
    let var = costs.iter().map(|&c| (c as f64 - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    var.sqrt() / mean
}

/// Calibrate relative weights. `costs[g]` holds the costs (fen) of group `g`'s
/// cases; `groups[g]` names it. Ungroupable cases are simply not passed.
pub fn calibrate(groups: &[GroupKey], mut costs: Vec<Vec<i64>>, opts: &Options) -> Calibration {
    assert_eq!(groups.len(), costs.len(), "one cost list per group");
    let cases: u64 = costs.iter().map(|c| c.len() as u64).sum();
    // Trim each group; remember kept sums.
    let mut kept: Vec<Vec<i64>> = Vec::with_capacity(groups.len());
    for c in costs.iter_mut() {
        kept.push(trim(c, opts.trim).to_vec());
    }
    let kept_n: u64 = kept.iter().map(|k| k.len() as u64).sum();
    let kept_sum: i128 = kept.iter().flatten().map(|&c| i128::from(c)).sum();
    let overall_mean = mean_fen(kept_sum, kept_n);

    // Parent pools.
    let mut parent_pool: std::collections::BTreeMap<&str, (i128, u64)> = Default::default();
    for (g, k) in groups.iter().zip(&kept) {
        let e = parent_pool.entry(g.parent.as_str()).or_default();
        e.0 += k.iter().map(|&c| i128::from(c)).sum::<i128>();
        e.1 += k.len() as u64;
    }

    // RIV over kept cases.
    let grand = if kept_n > 0 { kept_sum as f64 / kept_n as f64 } else { 0.0 };
    let (mut ssw, mut sst) = (0.0f64, 0.0f64);
    for k in &kept {
        if k.is_empty() {
            continue;
        }
        let m = k.iter().map(|&c| c as f64).sum::<f64>() / k.len() as f64;
        for &c in k {
            ssw += (c as f64 - m).powi(2);
            sst += (c as f64 - grand).powi(2);
        }
    }
    let riv = if sst > 0.0 { 1.0 - ssw / sst } else { 0.0 };

    let mut out = Vec::with_capacity(groups.len());
    for ((g, k), all) in groups.iter().zip(&kept).zip(&costs) {
        let own_n = k.len() as u64;
        let own_sum: i128 = k.iter().map(|&c| i128::from(c)).sum();
        let (mean, source) = if own_n >= opts.min_cases {
            (mean_fen(own_sum, own_n), Source::Own)
        } else {
            let (psum, pn) = parent_pool.get(g.parent.as_str()).copied().unwrap_or((0, 0));
            if pn >= opts.min_cases && !g.parent.is_empty() {
                (mean_fen(psum, pn), Source::Parent)
            } else if own_n > 0 {
                (mean_fen(own_sum, own_n), Source::OwnFew)
            } else {
                (Fen::ZERO, Source::NoData)
            }
        };
        let rw = if overall_mean.0 > 0 && source != Source::NoData {
            (Decimal::from(mean.0) / Decimal::from(overall_mean.0))
                .round_dp_with_strategy(opts.rw_places, RoundingStrategy::MidpointAwayFromZero)
        } else {
            Decimal::ZERO
        };
        out.push(GroupWeight {
            code: g.code.clone(),
            parent: g.parent.clone(),
            cases: all.len() as u64,
            kept: own_n,
            mean,
            cv: cv(k),
            rw,
            source,
        });
    }
    let with_data: Vec<&GroupWeight> = out.iter().filter(|g| g.kept >= 2).collect();
    let share_cv_below_1 = if with_data.is_empty() {
        0.0
    } else {
        with_data.iter().filter(|g| g.cv < 1.0).count() as f64 / with_data.len() as f64
    };
    Calibration { groups: out, overall_mean, cases, kept: kept_n, riv, share_cv_below_1 }
}

/// Structural adjustment (结构性调整, seed 002 §23): multiply each listed group's RW by
/// its expert multiplier, then scale every RW by one factor so that the total weight
/// Σ cases × RW is unchanged. Returns the factor applied.
pub fn adjust(groups: &mut [GroupWeight], multipliers: &[(String, Decimal)], places: u32) -> Decimal {
    let total = |gs: &[GroupWeight]| gs.iter().map(|g| Decimal::from(g.cases) * g.rw).sum::<Decimal>();
    let before = total(groups);
    let mut raw: Vec<Decimal> = groups
        .iter()
        .map(|g| {
            let m = multipliers.iter().find(|(c, _)| *c == g.code).map(|(_, m)| *m).unwrap_or(Decimal::ONE);
            g.rw * m
        })
        .collect();
    let after: Decimal = groups.iter().zip(&raw).map(|(g, r)| Decimal::from(g.cases) * r).sum();
    let factor = if after.is_zero() { Decimal::ONE } else { before / after };
    for (g, r) in groups.iter_mut().zip(raw.iter_mut()) {
        g.rw = (*r * factor).round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    }
    factor
}

/// Case-mix index (CMI): the average RW of an institution's grouped cases.
pub fn cmi(rws: impl IntoIterator<Item = Decimal>) -> Decimal {
    let (mut sum, mut n) = (Decimal::ZERO, 0u64);
    for rw in rws {
        sum += rw;
        n += 1;
    }
    if n == 0 {
        Decimal::ZERO
    } else {
        (sum / Decimal::from(n)).round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
    }
}

/// The columns of a weights table file.
pub const WEIGHTS_HEADER: [&str; 9] = ["code", "parent", "name", "cases", "kept", "mean_cost", "cv", "rw", "source"];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: &str, parent: &str) -> GroupKey {
        GroupKey { code: code.into(), parent: parent.into() }
    }

    #[test]
    fn mean_rounds_half_up() {
        assert_eq!(mean_fen(3, 2), Fen(2)); // 1.5 → 2
        assert_eq!(mean_fen(5, 4), Fen(1)); // 1.25 → 1
        assert_eq!(mean_fen(0, 0), Fen(0));
    }

    #[test]
    fn hand_computed_weights() {
        // Group A: 100, 200, 300 yuan (mean 200); group B: 400 ×3 (mean 400);
        // overall mean (600+1200)/6 = 300 → RW 0.6667 and 1.3333.
        let groups = [key("A1", "A"), key("B1", "B")];
        let costs = vec![vec![10000, 20000, 30000], vec![40000; 3]];
        let opts = Options { trim: Trim::None, min_cases: 1, rw_places: 4 };
        let cal = calibrate(&groups, costs, &opts);
        assert_eq!(cal.overall_mean, Fen(30000));
        assert_eq!(cal.groups[0].mean, Fen(20000));
        assert_eq!(cal.groups[0].rw, Decimal::new(6667, 4));
        assert_eq!(cal.groups[1].rw, Decimal::new(13333, 4));
        // SST = (100²+0+100²+100²×3)·10⁴... in fen: deviations from 300 yuan
        // A: -200,-100,0 yuan; B: +100 ×3 → SST = (4+1+0+3)·10⁸ fen² ; SSW = (1+0+1)·10⁸
        assert!((cal.riv - (1.0 - 2.0 / 8.0)).abs() < 1e-12, "{}", cal.riv);
        assert_eq!(cal.share_cv_below_1, 1.0);
    }

    #[test]
    fn small_groups_borrow_from_parent() {
        let groups = [key("A11", "A1"), key("A13", "A1"), key("B11", "B1")];
        let costs = vec![vec![10000; 12], vec![20000; 2], vec![30000; 12]];
        let opts = Options { trim: Trim::None, min_cases: 10, rw_places: 4 };
        let cal = calibrate(&groups, costs, &opts);
        assert_eq!(cal.groups[1].source, Source::Parent);
        // Parent pool: 12×100 + 2×200 = 1600 yuan over 14 → 114.29 yuan
        assert_eq!(cal.groups[1].mean, Fen(11429));
        assert_eq!(cal.groups[0].source, Source::Own);
    }

    #[test]
    fn percentile_and_log_sd_trim_outliers() {
        let mut costs: Vec<i64> = (0..100).map(|i| 10000 + i * 10).collect();
        costs.push(10_000_000); // extreme
        let kept = trim(&mut costs.clone(), Trim::LogSd { k: 3.0 }).to_vec();
        assert_eq!(kept.len(), 100);
        assert!(!kept.contains(&10_000_000));
        let kept = trim(&mut costs, Trim::Percentile { low: 2.5, high: 97.5 }).to_vec();
        // n = 101: ranks ceil(2.525)=3 .. ceil(98.475)=99 → 97 cases
        assert_eq!(kept.len(), 97);
    }

    #[test]
    fn structural_adjustment_keeps_total_weight() {
        let groups = [key("A1", "A"), key("B1", "B")];
        let cal = calibrate(&groups, vec![vec![10000; 10], vec![30000; 10]], &Options { trim: Trim::None, min_cases: 1, rw_places: 4 });
        let mut gs = cal.groups;
        let before: Decimal = gs.iter().map(|g| Decimal::from(g.cases) * g.rw).sum();
        adjust(&mut gs, &[("B1".into(), Decimal::new(12, 1))], 4);
        let after: Decimal = gs.iter().map(|g| Decimal::from(g.cases) * g.rw).sum();
        assert!((before - after).abs() <= Decimal::new(10, 4), "{before} vs {after}");
        // B rose relative to A by the multiplier.
        let ratio = gs[1].rw / gs[0].rw;
        assert!((ratio - Decimal::new(36, 1)).abs() < Decimal::new(1, 2), "{ratio}");
    }

    #[test]
    fn cmi_is_mean_rw() {
        assert_eq!(cmi([Decimal::new(5, 1), Decimal::new(15, 1), Decimal::ONE]), Decimal::ONE);
        assert_eq!(cmi([]), Decimal::ZERO);
    }
}

#[cfg(test)]
mod prop {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, LogNormal};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Costs drawn log-normally around known group means: calibration recovers
        /// the true relative weights within 5 %.
        #[test]
        fn recovers_known_weights(seed in any::<u64>(), ngroups in 3usize..15, sigma in 0.2f64..0.6) {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let means: Vec<f64> = (0..ngroups).map(|i| 3000.0 * (1.0 + i as f64 * 0.7)).collect();
            let n = 2000;
            let groups: Vec<GroupKey> = (0..ngroups).map(|i| GroupKey { code: format!("G{i}"), parent: format!("P{i}") }).collect();
            let mut costs = Vec::new();
            for m in &means {
                // mean of lognormal = exp(mu + s²/2) = m
                let mu = (m * 100.0).ln() - sigma * sigma / 2.0;
                let d = LogNormal::new(mu, sigma).unwrap();
                costs.push((0..n).map(|_| d.sample(&mut rng).round() as i64).collect::<Vec<_>>());
            }
            let cal = calibrate(&groups, costs, &Options { trim: Trim::None, ..Options::default() });
            let true_overall = means.iter().sum::<f64>() / ngroups as f64;
            for (g, m) in cal.groups.iter().zip(&means) {
                let truth = m / true_overall;
                let got = g.rw.to_f64().unwrap();
                prop_assert!((got - truth).abs() / truth < 0.05, "group {} rw {got} truth {truth}", g.code);
            }
        }
    }
}
