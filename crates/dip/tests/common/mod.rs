//! A small deterministic synthetic region for the DIP tests (own generator: the
//! workspace's `synth` crate was not yet available when these tests were written).
#![allow(dead_code)]

use claims::Fen;
use dip::ListCase;

/// One generated case, owning its cells.
#[derive(Clone, Debug)]
pub struct SynthCase {
    pub case_id: String,
    pub main: String,
    pub others: String,
    pub procs: String,
    pub cost: i64,
    pub age: u32,
    pub level: u8,
}

impl SynthCase {
    pub fn view(&self) -> ListCase<'_> {
        ListCase {
            main_diagnosis: &self.main,
            other_diagnoses: &self.others,
            procedures: &self.procs,
            total_cost: Some(Fen(self.cost)),
            age_years: Some(self.age),
            age_days: None,
        }
    }
}

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Pattern {
    main: String,
    procs: Vec<String>,
    cost: f64,
    weight: f64,
}

const SECONDARY: &[&str] = &[
    "I10.x00",
    "E11.900",
    "I50.900x007",
    "J44.100",
    "N18.500",
    "C78.000",
    "I21.000",
];

/// `n` cases over `diseases` diagnosis subcategories with 1–3 treatment patterns
/// each; pattern frequencies fall off as 1/rank; 2 % of cases get an extra random
/// procedure (rare combinations); 1 % are cost outliers.
pub fn region(n: usize, diseases: usize, seed: u64) -> Vec<SynthCase> {
    let mut r = Rng(seed);
    let mut patterns = Vec::new();
    let letters = b"ABCDEGIJKLMN";
    for d in 0..diseases {
        let letter = letters[d % letters.len()] as char;
        let main = format!("{letter}{:02}.{}00", (d / letters.len()) % 100, d % 10);
        let k = 1 + r.below(3) as usize;
        for j in 0..k {
            let procs: Vec<String> = if j == 0 && r.below(2) == 0 {
                Vec::new()
            } else {
                (0..1 + r.below(2))
                    .map(|_| format!("{:02}.{:02}00", 1 + r.below(98), r.below(100)))
                    .collect()
            };
            let cost =
                200_000.0 + r.unit() * 3_000_000.0 * if procs.is_empty() { 0.5 } else { 1.5 };
            patterns.push(Pattern {
                main: main.clone(),
                procs,
                cost,
                weight: 0.0,
            });
        }
    }
    let total = patterns.len();
    // Weights ~ 1/rank^0.7 in a shuffled order.
    let mut order: Vec<usize> = (0..total).collect();
    for i in (1..total).rev() {
        order.swap(i, r.below(i as u64 + 1) as usize);
    }
    for (rank, &i) in order.iter().enumerate() {
        patterns[i].weight = 1.0 / ((rank + 1) as f64).powf(0.7);
    }
    let sum: f64 = patterns.iter().map(|p| p.weight).sum();
    let mut cum = Vec::with_capacity(total);
    let mut acc = 0.0;
    for p in &patterns {
        acc += p.weight / sum;
        cum.push(acc);
    }
    (0..n)
        .map(|i| {
            let u = r.unit();
            let p = &patterns[cum.partition_point(|c| *c < u).min(total - 1)];
            let mut procs = p.procs.clone();
            if r.below(50) == 0 {
                procs.push(format!("{:02}.{:02}00", 1 + r.below(98), r.below(100)));
            }
            let level = 1 + r.below(3) as u8;
            let noise = 0.7 + 0.6 * r.unit();
            let mut cost = p.cost * noise * (0.8 + 0.1 * level as f64);
            if r.below(100) == 0 {
                cost *= 3.0 + 5.0 * r.unit();
            }
            let others: Vec<&str> = (0..r.below(3))
                .map(|_| SECONDARY[r.below(SECONDARY.len() as u64) as usize])
                .collect();
            SynthCase {
                case_id: format!("S{i:07}"),
                main: p.main.clone(),
                others: others.join("|"),
                procs: procs.join("|"),
                cost: cost.round() as i64,
                age: r.below(95) as u32,
                level,
            }
        })
        .collect()
}
