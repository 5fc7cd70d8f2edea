//! Garbage input never panics and yields DRG `0000` with a reason; the fast path and
//! `explain` agree on randomly perturbed reference cases.

mod common;

use drg::{explain_with, Case, Grouper, Limits, Reason, Scratch, Status};

struct Row {
    name: &'static str,
    case: Case<'static>,
    reason: Reason,
}

fn many(code: &'static str, n: usize) -> &'static [&'static str] {
    Vec::leak(vec![code; n])
}

fn rows() -> Vec<Row> {
    let ok = Case {
        sex: Some(1),
        age: Some(50),
        age_days: None,
        weight_g: None,
        dx: &["I63.900"],
        procs: &[],
        ..Default::default()
    };
    let long: &'static str = String::leak("Ｘ".repeat(10_000));
    vec![
        Row {
            name: "no diagnoses",
            case: Case { dx: &[], ..ok },
            reason: Reason::NoDiagnosis,
        },
        Row {
            name: "only empty diagnoses",
            case: Case {
                dx: &["", "  ", "\t"],
                ..ok
            },
            reason: Reason::NoDiagnosis,
        },
        Row {
            name: "unknown main diagnosis",
            case: Case {
                dx: &["NOT-A-CODE", "I63.900"],
                ..ok
            },
            reason: Reason::UnknownMainDiagnosis,
        },
        Row {
            name: "10,000-character code",
            case: Case {
                dx: many(long, 1),
                procs: many(long, 2),
                ..ok
            },
            reason: Reason::UnknownMainDiagnosis,
        },
        Row {
            name: "control characters",
            case: Case {
                dx: &["\u{0}\u{1}|,\""],
                ..ok
            },
            reason: Reason::UnknownMainDiagnosis,
        },
        Row {
            name: "age 200",
            case: Case {
                age: Some(200),
                ..ok
            },
            reason: Reason::AgeOutOfRange,
        },
        Row {
            name: "age u32::MAX",
            case: Case {
                age: Some(u32::MAX),
                ..ok
            },
            reason: Reason::AgeOutOfRange,
        },
        Row {
            name: "age_days 10,000",
            case: Case {
                age_days: Some(10_000),
                ..ok
            },
            reason: Reason::AgeDaysOutOfRange,
        },
        Row {
            name: "birth weight 0 g",
            case: Case {
                weight_g: Some(0),
                ..ok
            },
            reason: Reason::WeightOutOfRange,
        },
        Row {
            name: "birth weight 99 kg",
            case: Case {
                weight_g: Some(99_000),
                ..ok
            },
            reason: Reason::WeightOutOfRange,
        },
        Row {
            name: "1,000 procedures",
            case: Case {
                procs: many("00.5500", 1000),
                ..ok
            },
            reason: Reason::TooManyProcedures,
        },
        Row {
            name: "1,000 diagnoses",
            case: Case {
                dx: many("I63.900", 1000),
                ..ok
            },
            reason: Reason::TooManyDiagnoses,
        },
    ]
}

#[test]
fn garbage_yields_0000_with_reason() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let grouper = Grouper::new(common::load_scheme(&dir)).expect("compiles");
    let mut scratch = Scratch::default();
    for r in rows() {
        let g = grouper.group(&r.case);
        assert_eq!(g, grouper.group_with(&r.case, &mut scratch), "{}", r.name);
        let codes = grouper.codes_of(&g);
        assert_eq!(
            (codes.mdc, codes.adrg, codes.drg),
            ("0000", "00", "0000"),
            "{}",
            r.name
        );
        assert_eq!(g.status, Status::Ungroupable(r.reason), "{}", r.name);
        let t = explain_with(grouper.scheme(), &r.case, grouper.limits());
        assert_eq!(
            (t.drg.as_str(), t.status),
            ("0000", g.status),
            "explain: {}",
            r.name
        );
        assert!(!t.render(drg::Lang::Zh).is_empty());
    }
    // The valid base case does group, so the rows above fail for their stated reason.
    let ok = Case {
        sex: Some(1),
        age: Some(50),
        dx: &["I63.900"],
        ..Case::default()
    };
    assert_eq!(grouper.group(&ok).status, Status::Grouped);
}

#[test]
fn raised_limits_group_huge_cases_without_panic() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let limits = Limits {
        max_dx: 5000,
        max_procs: 5000,
        max_age: u32::MAX,
        ..Limits::default()
    };
    let grouper = Grouper::with_limits(common::load_scheme(&dir), limits).expect("compiles");
    let mut dx = vec!["S06.000"; 1000];
    dx.extend(["S32.000", "S72.000", "J96.000"]);
    let procs = vec!["79.3501"; 1000];
    let case = Case {
        sex: Some(2),
        age: Some(u32::MAX),
        dx: &dx,
        procs: &procs,
        ..Case::default()
    };
    let g = grouper.group(&case); // > 128 codes: the heap fallback
    assert_eq!(g, grouper.group_with(&case, &mut Scratch::default()));
    let t = explain_with(grouper.scheme(), &case, grouper.limits());
    assert_eq!(t.drg, grouper.codes_of(&g).drg);
    assert_eq!(t.status, g.status);
}

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn explain_agrees_on_perturbed_cases() {
    let Some(dir) = common::reference_dir() else {
        return;
    };
    let grouper = Grouper::new(common::load_scheme(&dir)).expect("compiles");
    let cases = common::load_cases(&dir);
    let dx_pool: Vec<&str> = cases
        .iter()
        .flat_map(|c| c.dx.iter().map(String::as_str))
        .collect();
    let proc_pool: Vec<&str> = cases
        .iter()
        .flat_map(|c| c.procs.iter().map(String::as_str))
        .collect();
    let mut rng = Lcg(42);
    let mut scratch = Scratch::default();
    let mut grouped = 0;
    for i in 0..20_000 {
        let base = &cases[rng.below(cases.len())];
        let mut dx: Vec<&str> = base.dx.iter().map(String::as_str).collect();
        let mut procs: Vec<&str> = base.procs.iter().map(String::as_str).collect();
        // Mix codes of other cases in, shuffle the order, drop some.
        for _ in 0..rng.below(4) {
            dx.insert(rng.below(dx.len() + 1), dx_pool[rng.below(dx_pool.len())]);
        }
        for _ in 0..rng.below(3) {
            procs.insert(
                rng.below(procs.len() + 1),
                proc_pool[rng.below(proc_pool.len())],
            );
        }
        if rng.below(5) == 0 && !procs.is_empty() {
            let j = rng.below(procs.len());
            procs.swap(0, j);
        }
        if rng.below(10) == 0 {
            dx.push("??");
        }
        let pick = |rng: &mut Lcg, v: Option<u32>, alt: u32| match rng.below(4) {
            0 => None,
            1 => Some(alt),
            _ => v,
        };
        let (a, d, w) = (
            rng.below(120) as u32,
            rng.below(400) as u32,
            rng.below(6000) as u32,
        );
        let case = Case {
            sex: if rng.below(10) == 0 {
                Some(rng.below(4) as u8)
            } else {
                base.sex
            },
            age: pick(&mut rng, base.age, a),
            age_days: pick(&mut rng, base.age_days, d),
            weight_g: pick(&mut rng, base.weight_g, w),
            dx: &dx,
            procs: &procs,
            ..Default::default()
        };
        let g = grouper.group(&case);
        assert_eq!(g, grouper.group_with(&case, &mut scratch), "case {i}");
        let t = explain_with(grouper.scheme(), &case, grouper.limits());
        let codes = grouper.codes_of(&g);
        assert_eq!(
            (t.mdc.as_str(), t.adrg.as_str(), t.drg.as_str()),
            (codes.mdc, codes.adrg, codes.drg),
            "case {i}: {case:?}"
        );
        assert_eq!(t.status, g.status, "case {i}");
        grouped += usize::from(g.status == Status::Grouped);
    }
    // The perturbation must not make everything ungroupable (that would test nothing).
    assert!(grouped > 10_000, "only {grouped} grouped");
}
