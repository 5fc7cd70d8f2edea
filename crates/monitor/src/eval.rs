//! Precision and recall of the detectors against labelled anomalies (the
//! `anomalies.csv` that `drgdip synth` writes: `case_id,institution_id,year,pattern,detail`).

use rustc_hash::FxHashSet;

use crate::detect::{Detection, Pattern};
use crate::model::Dataset;

/// One ground-truth label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub case_id: String,
    pub institution_id: String,
    pub year: i32,
    pub pattern: Pattern,
}

/// Read labels from CSV text (header line first); rows with an unknown pattern are skipped.
pub fn parse_labels(text: &str) -> Vec<Label> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let case_id = f.next()?.trim().to_owned();
            let institution_id = f.next()?.trim().to_owned();
            let year = f.next()?.trim().parse().ok()?;
            let pattern = Pattern::from_label(f.next()?.trim())?;
            Some(Label {
                case_id,
                institution_id,
                year,
                pattern,
            })
        })
        .collect()
}

/// Whether a figure is per case or per institution-year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Level {
    Case,
    Institution,
}

/// Precision and recall of one detector at one level.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Score {
    pub pattern: Pattern,
    pub level: Level,
    pub true_pos: u64,
    pub false_pos: u64,
    pub false_neg: u64,
}

impl Score {
    /// TP / (TP + FP); 1 when nothing was flagged.
    pub fn precision(&self) -> f64 {
        let d = self.true_pos + self.false_pos;
        if d == 0 {
            1.0
        } else {
            self.true_pos as f64 / d as f64
        }
    }
    /// TP / (TP + FN); 1 when nothing was labelled.
    pub fn recall(&self) -> f64 {
        let d = self.true_pos + self.false_neg;
        if d == 0 {
            1.0
        } else {
            self.true_pos as f64 / d as f64
        }
    }
}

fn score<T: std::hash::Hash + Eq>(
    pattern: Pattern,
    level: Level,
    truth: &FxHashSet<T>,
    found: &FxHashSet<T>,
) -> Score {
    let tp = found.intersection(truth).count() as u64;
    Score {
        pattern,
        level,
        true_pos: tp,
        false_pos: found.len() as u64 - tp,
        false_neg: truth.len() as u64 - tp,
    }
}

/// Scores per pattern: case level for case patterns (restricted to cases in
/// `data`), and institution-year level for all (an institution-year is labelled
/// when it has a label of the pattern, found when it was screened in or has a flag).
pub fn evaluate(data: &Dataset, det: &Detection, labels: &[Label]) -> Vec<Score> {
    let known: FxHashSet<&str> = data.case_ids.iter().collect();
    let mut out = Vec::new();
    for p in Pattern::ALL {
        let inst_truth: FxHashSet<(String, i32)> = labels
            .iter()
            .filter(|l| l.pattern == p)
            .map(|l| (l.institution_id.clone(), l.year))
            .collect();
        let inst_found: FxHashSet<(String, i32)> = det
            .flags
            .iter()
            .filter(|f| f.pattern == p)
            .map(|f| (f.inst, f.year))
            .chain(
                det.screened
                    .iter()
                    .filter(|s| s.pattern == p)
                    .map(|s| (s.inst, s.year)),
            )
            .map(|(i, y)| (data.institutions[i as usize].id.clone(), y))
            .collect();
        if !p.institution_level() {
            let truth: FxHashSet<&str> = labels
                .iter()
                .filter(|l| l.pattern == p && known.contains(l.case_id.as_str()))
                .map(|l| l.case_id.as_str())
                .collect();
            let found: FxHashSet<&str> = det
                .flags
                .iter()
                .filter(|f| f.pattern == p)
                .filter_map(|f| f.case)
                .map(|i| &data.case_ids[i as usize])
                .collect();
            out.push(score(p, Level::Case, &truth, &found));
        }
        out.push(score(p, Level::Institution, &inst_truth, &inst_found));
    }
    out
}
