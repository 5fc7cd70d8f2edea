//! Property tests: a case made of a core group's own diagnosis and procedures groups
//! into that group; scores are positive and the case-weighted mean score over the
//! build data equals the base within rounding.

mod common;

use claims::Fen;
use dip::aux::CciTable;
use dip::params::GroupParams;
use dip::params::{BuildParams, DxLevel, KeyProcedures, ProcLevel, Reference, Trim};
use dip::{
    Builder, Fixed, GroupKind, Grouper, ListCase, Match, MatchRule, ProcClassifier, Scratch,
};
use proptest::prelude::*;

const DX: &[&str] = &[
    "K35.800",
    "K35.801",
    "K35.300",
    "J18.900",
    "C34.900",
    "I21.000x001",
    "A33.x00",
    "G10.x01+F02.2*",
    "O80.000",
];
const PROCS: &[&str] = &[
    "47.0100",
    "47.0900",
    "54.1100",
    "87.4400",
    "99.2500",
    "36.0600x001",
    "45.1300",
    "74.1x00",
    "33.6x00",
];

#[derive(Clone, Debug)]
struct Raw {
    dx: usize,
    procs: Vec<usize>,
    cost: i64,
    age: u32,
}

fn raw() -> impl Strategy<Value = Raw> {
    (
        0..DX.len(),
        prop::collection::vec(0..PROCS.len(), 0..4),
        1i64..500_000_000,
        0u32..100,
    )
        .prop_map(|(dx, procs, cost, age)| Raw {
            dx,
            procs,
            cost,
            age,
        })
}

fn params() -> impl Strategy<Value = BuildParams> {
    (
        1u32..20,
        prop_oneof![Just(DxLevel::Subcategory), Just(DxLevel::Category)],
        prop_oneof![
            Just(KeyProcedures::All),
            Just(KeyProcedures::NonDiagnostic),
            Just(KeyProcedures::SurgicalOnly)
        ],
        prop_oneof![
            Just(Trim::None),
            Just(Trim::default()),
            Just(Trim::Percentile {
                lower: 10.0,
                upper: 90.0
            }),
            Just(Trim::LogSd { k: 1.0 })
        ],
        prop_oneof![Just(Fixed::from_int(1000)), Just(Fixed::from_int(100))],
        prop_oneof![Just(ProcLevel::Full), Just(ProcLevel::Detail)],
    )
        .prop_map(
            |(min_cases, dx_level, key_procedures, trim, base, proc_level)| BuildParams {
                min_cases,
                dx_level,
                proc_level,
                key_procedures,
                trim,
                base,
                ..BuildParams::default()
            },
        )
}

fn cells(r: &Raw) -> String {
    r.procs
        .iter()
        .map(|&p| PROCS[p])
        .collect::<Vec<_>>()
        .join("|")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn scores_positive_and_mean_is_base(cases in prop::collection::vec(raw(), 1..400), p in params()) {
        let base = p.base;
        let mut b = Builder::new(p, ProcClassifier::builtin(), CciTable::builtin());
        let procs: Vec<String> = cases.iter().map(cells).collect();
        for (r, pr) in cases.iter().zip(&procs) {
            let c = ListCase { main_diagnosis: DX[r.dx], procedures: pr, total_cost: Some(Fen(r.cost)), age_years: Some(r.age), ..ListCase::default() };
            b.add(&c, None).unwrap();
        }
        let (lib, report) = b.finish("p").unwrap();
        prop_assert!(lib.groups.iter().all(|g| g.score > Fixed::ZERO));
        prop_assert_eq!(lib.groups.iter().map(|g| g.cases).sum::<u64>(), cases.len() as u64);
        let mean = lib.weighted_mean_score().unwrap();
        prop_assert!((mean.0 - base.0).abs() <= 1, "mean {} base {}", mean, base);
        prop_assert!(report.core_share >= 0.0 && report.core_share <= 1.0);
        // Every build case is grouped. With the exact-only rule grouping reproduces the
        // build's assignment, so the mean group score over the build cases is the base.
        let exact = GroupParams { match_rule: MatchRule::ExactOnly, ..GroupParams::default() };
        let g = Grouper::with_params(lib, exact).unwrap();
        let mut s = Scratch::default();
        let mut sum: i128 = 0;
        for (r, pr) in cases.iter().zip(&procs) {
            let c = ListCase { main_diagnosis: DX[r.dx], procedures: pr, total_cost: Some(Fen(r.cost)), ..ListCase::default() };
            let o = g.group(&c, None, &mut s);
            prop_assert!(o.group.is_some(), "{:?}", o);
            // Group scores are positive; a low-cost case's score (ratio × score) may round to 0.
            prop_assert!(o.group_score > Fixed::ZERO && o.score >= Fixed::ZERO);
            sum += o.group_score.0 as i128;
        }
        let mean = dip::score::div_round(sum, cases.len() as i128) as i64;
        prop_assert!((mean - base.0).abs() <= 1, "mean over build cases {} base {}", Fixed(mean), base);
    }

    #[test]
    fn core_group_members_group_into_it(
        cases in prop::collection::vec(raw(), 50..400),
        p in params(),
        shuffle_seed in any::<u64>(),
        extra_dup in any::<bool>(),
    ) {
        let (dx_level, proc_level) = (p.dx_level, p.proc_level);
        let mut b = Builder::new(BuildParams { min_cases: p.min_cases.min(5), ..p }, ProcClassifier::builtin(), CciTable::builtin());
        let procs: Vec<String> = cases.iter().map(cells).collect();
        for (r, pr) in cases.iter().zip(&procs) {
            let c = ListCase { main_diagnosis: DX[r.dx], procedures: pr, total_cost: Some(Fen(r.cost)), ..ListCase::default() };
            b.add(&c, None).unwrap();
        }
        let (lib, _) = b.finish("p").unwrap();
        let g = Grouper::new(lib.clone()).unwrap();
        let mut s = Scratch::default();
        let mut rng = common::Rng(shuffle_seed);
        for (i, grp) in lib.groups.iter().enumerate().filter(|(_, g)| g.kind == GroupKind::Core) {
            // The group's own diagnosis (extended to a full code) and its procedures,
            // in a random order, possibly repeated.
            let main = match dx_level { DxLevel::Subcategory => format!("{}00x001", grp.dx), DxLevel::Category => format!("{}.900", grp.dx) };
            // Full codes as a hospital writes them: at detail level the key `47.01`
            // stands for codes such as `47.0100`.
            let mut ps: Vec<String> = match proc_level {
                ProcLevel::Full => grp.procedures.clone(),
                ProcLevel::Detail => grp.procedures.iter().map(|p| format!("{p}00")).collect(),
            };
            if extra_dup && !ps.is_empty() {
                ps.push(ps[0].clone());
            }
            for k in (1..ps.len()).rev() {
                ps.swap(k, rng.below(k as u64 + 1) as usize);
            }
            let joined = ps.join("|");
            let c = ListCase { main_diagnosis: &main, procedures: &joined, ..ListCase::default() };
            let o = g.group(&c, None, &mut s);
            prop_assert_eq!(o.group, Some(i as u32), "{} from {} {}: {}", grp.code, main, joined, g.trace(&o));
            prop_assert_eq!(o.how, Match::Exact);
            prop_assert_eq!(o.group_score, grp.score);
        }
    }

    #[test]
    fn raw_mean_reference_keeps_untrimmed_mean_at_base(cases in prop::collection::vec(raw(), 1..200)) {
        // Without trimming both references coincide, so the mean is the base.
        let p = BuildParams { reference: Reference::RawMean, trim: Trim::None, ..BuildParams::default() };
        let mut b = Builder::new(p, ProcClassifier::builtin(), CciTable::builtin());
        let procs: Vec<String> = cases.iter().map(cells).collect();
        for (r, pr) in cases.iter().zip(&procs) {
            b.add(&ListCase { main_diagnosis: DX[r.dx], procedures: pr, total_cost: Some(Fen(r.cost)), ..ListCase::default() }, None).unwrap();
        }
        let (lib, report) = b.finish("p").unwrap();
        let mean = lib.weighted_mean_score().unwrap();
        prop_assert!((mean.0 - 10_000_000).abs() <= 1, "{}", mean);
        let raw_mean = cases.iter().map(|c| c.cost as i128).sum::<i128>() as f64 / cases.len() as f64;
        prop_assert!((report.reference_cost as f64 - raw_mean).abs() <= 0.5 + 1e-6);
    }
}
