//! Keys and units: insurance types, sub-categories, budget keys, exact points.

use std::fmt;

use rust_decimal::Decimal;
use serde::Deserialize;

/// The two insurance types budgets are built for (seed 002 §10–§11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum Insurance {
    #[serde(rename = "职工")]
    Employee,
    #[serde(rename = "居民")]
    Resident,
}

impl Insurance {
    pub const ALL: [Insurance; 2] = [Insurance::Employee, Insurance::Resident];

    pub fn zh(self) -> &'static str {
        match self {
            Insurance::Employee => "职工",
            Insurance::Resident => "居民",
        }
    }

    pub fn parse(s: &str) -> Option<Insurance> {
        match s.trim() {
            "职工" | "310" | "employee" | "Employee" | "职工基本医疗保险" => {
                Some(Insurance::Employee)
            }
            "居民" | "390" | "resident" | "Resident" | "城乡居民基本医疗保险" => {
                Some(Insurance::Resident)
            }
            _ => None,
        }
    }
}

/// Budget sub-categories (细分类别, seed 002 §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum SubCategory {
    /// 普通门（急）诊（含门诊统筹）
    #[serde(rename = "普通门急诊")]
    GeneralOutpatient,
    /// 门诊慢病、门诊特殊疾病
    #[serde(rename = "门诊慢特病")]
    ChronicSpecial,
    /// 门诊“双通道药品”
    #[serde(rename = "双通道药品")]
    DualChannel,
    /// 日间医疗（日间手术、日间化疗、日间高值药品注射治疗）
    #[serde(rename = "日间医疗")]
    DayCare,
    /// 住院（含预住院）
    #[serde(rename = "住院")]
    Inpatient,
}

impl SubCategory {
    pub const ALL: [SubCategory; 5] = [
        SubCategory::GeneralOutpatient,
        SubCategory::ChronicSpecial,
        SubCategory::DualChannel,
        SubCategory::DayCare,
        SubCategory::Inpatient,
    ];

    pub fn zh(self) -> &'static str {
        match self {
            SubCategory::GeneralOutpatient => "普通门急诊",
            SubCategory::ChronicSpecial => "门诊慢特病",
            SubCategory::DualChannel => "双通道药品",
            SubCategory::DayCare => "日间医疗",
            SubCategory::Inpatient => "住院",
        }
    }

    pub fn parse(s: &str) -> Option<SubCategory> {
        SubCategory::ALL.into_iter().find(|c| c.zh() == s.trim())
    }

    pub fn outpatient(self) -> bool {
        self != SubCategory::Inpatient
    }
}

/// A budget line: insurance type, sub-category and (when budgets are split by
/// class) the institution class; `class` is empty otherwise.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub insurance: Insurance,
    pub category: SubCategory,
    pub class: String,
}

impl Key {
    pub fn new(insurance: Insurance, category: SubCategory, class: &str) -> Key {
        Key {
            insurance,
            category,
            class: class.to_owned(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.insurance.zh(), self.category.zh())?;
        if !self.class.is_empty() {
            write!(f, "/{}", self.class)?;
        }
        Ok(())
    }
}

/// Points as an exact integer count of ten-thousandths (the points crate rounds
/// every case to 4 decimals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pts(pub i64);

impl Pts {
    pub const SCALE: i64 = 10_000;

    /// From a decimal with at most 4 places; None when finer or out of range.
    pub fn from_decimal(d: Decimal) -> Option<Pts> {
        let scaled = d * Decimal::from(Pts::SCALE);
        if scaled.fract() != Decimal::ZERO {
            return None;
        }
        i64::try_from(scaled).ok().map(Pts)
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 4)
    }
}

impl fmt::Display for Pts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:04}", a / 10_000, a % 10_000)
    }
}

impl std::ops::Add for Pts {
    type Output = Pts;
    fn add(self, o: Pts) -> Pts {
        Pts(self.0 + o.0)
    }
}

impl std::ops::AddAssign for Pts {
    fn add_assign(&mut self, o: Pts) {
        self.0 += o.0;
    }
}

impl std::iter::Sum for Pts {
    fn sum<I: Iterator<Item = Pts>>(it: I) -> Pts {
        Pts(it.map(|p| p.0).sum())
    }
}

/// Payment methods points are reported by on a statement (mirrors `points::PayMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Drg,
    Dip,
    PerDiem,
    FeeForService,
    /// Withheld, no points.
    None,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Drg,
        Method::Dip,
        Method::PerDiem,
        Method::FeeForService,
        Method::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Drg => "drg",
            Method::Dip => "dip",
            Method::PerDiem => "per_diem",
            Method::FeeForService => "fee_for_service",
            Method::None => "none",
        }
    }

    pub fn zh(self) -> &'static str {
        match self {
            Method::Drg => "DRG",
            Method::Dip => "DIP",
            Method::PerDiem => "床日",
            Method::FeeForService => "项目",
            Method::None => "不计点",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pts_round_trip() {
        for s in ["0", "1.2345", "-3.5", "1234567.0001"] {
            let d: Decimal = s.parse().unwrap();
            let p = Pts::from_decimal(d).unwrap();
            assert_eq!(p.to_decimal(), d);
        }
        assert_eq!(Pts::from_decimal("1.23456".parse().unwrap()), None);
        assert_eq!(Pts(12345).to_string(), "1.2345");
        assert_eq!(Pts(-5).to_string(), "-0.0005");
    }
}
