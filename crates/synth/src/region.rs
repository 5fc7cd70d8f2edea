//! The institutions of a synthetic pooling region (统筹区): levels, types,
//! counties and compact county medical alliances (县域医共体).

use std::io::{self, Write};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Hospital level (医院等级).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 三级
    Tertiary = 0,
    /// 二级
    Secondary = 1,
    /// 一级
    Primary = 2,
    /// 基层 (township health centres, community health service centres)
    Grassroots = 3,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::Tertiary,
        Level::Secondary,
        Level::Primary,
        Level::Grassroots,
    ];

    pub fn zh(self) -> &'static str {
        match self {
            Level::Tertiary => "三级",
            Level::Secondary => "二级",
            Level::Primary => "一级",
            Level::Grassroots => "基层",
        }
    }
}

/// Institution type (机构类型).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 综合
    General,
    /// 中医 (traditional Chinese medicine)
    Tcm,
    /// 专科
    Specialty(Specialty),
}

/// The field of a specialty hospital.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Specialty {
    /// 妇产 / 妇幼
    Maternity,
    /// 精神
    Mental,
    /// 肿瘤
    Oncology,
    /// 骨科
    Orthopaedic,
}

impl Specialty {
    pub fn zh(self) -> &'static str {
        match self {
            Specialty::Maternity => "妇幼",
            Specialty::Mental => "精神",
            Specialty::Oncology => "肿瘤",
            Specialty::Orthopaedic => "骨科",
        }
    }
}

impl Kind {
    pub fn zh(self) -> &'static str {
        match self {
            Kind::General => "综合",
            Kind::Tcm => "中医",
            Kind::Specialty(_) => "专科",
        }
    }
}

/// One designated medical institution (定点医疗机构).
#[derive(Clone, Debug)]
pub struct Institution {
    pub id: String,
    pub name: String,
    pub level: Level,
    pub kind: Kind,
    pub county: String,
    /// 医共体 id and its lead institution's id, when a member.
    pub alliance: Option<(String, String)>,
    /// Paid by DRG (二级 and above) or by DIP (一级 and 基层).
    pub drg: bool,
    pub dip: bool,
    pub beds: u32,
    /// Relative case volume.
    pub volume: f64,
    /// Cost multiplier of this institution relative to its level's norm.
    pub cost_factor: f64,
}

/// The region: its code and institutions.
#[derive(Clone, Debug)]
pub struct Region {
    pub region_id: String,
    pub name: String,
    pub institutions: Vec<Institution>,
}

const COUNTY_HEADS: &[&str] = &[
    "东", "西", "南", "北", "青", "白", "金", "清", "安", "平", "永", "长", "宁", "丰", "新", "兴",
];
const COUNTY_TAILS: &[&str] = &[
    "河", "山", "川", "林", "阳", "原", "江", "岭", "湖", "泉", "桥", "台",
];
const TOWNS: &[&str] = &[
    "城关", "柳树", "石桥", "双河", "杨庄", "李家", "高店", "马场", "新集", "黄土", "三岔", "红旗",
    "太平", "龙泉", "桃园", "青松",
];

impl Region {
    /// Build `n` institutions deterministically from `seed`.
    pub fn generate(n: usize, seed: u64, region_id: &str, name: &str) -> Region {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4e61_7469_6f6e);
        let n_counties = (n / 12).clamp(1, COUNTY_HEADS.len() * COUNTY_TAILS.len());
        let mut counties: Vec<String> = Vec::with_capacity(n_counties);
        counties.push(format!("{name}市辖区"));
        let mut k = 0usize;
        while counties.len() < n_counties {
            let head = COUNTY_HEADS[(k * 7 + 3) % COUNTY_HEADS.len()];
            let tail = COUNTY_TAILS[(k * 5 + k / COUNTY_HEADS.len()) % COUNTY_TAILS.len()];
            let c = format!("{head}{tail}县");
            if !counties.contains(&c) {
                counties.push(c);
            }
            k += 1;
        }
        // Level mix: about 6 % tertiary (at least one), 22 % secondary, 30 % primary, the rest grassroots.
        let n_t = ((n as f64 * 0.06).round() as usize).max(1).min(n);
        let n_s = ((n as f64 * 0.22).round() as usize)
            .max(n_counties.saturating_sub(1))
            .min(n - n_t);
        let n_p = ((n as f64 * 0.30).round() as usize).min(n - n_t - n_s);
        let mut insts: Vec<Institution> = Vec::with_capacity(n);
        let mut names = std::collections::BTreeSet::new();
        let unique = |base: String, names: &mut std::collections::BTreeSet<String>| -> String {
            if names.insert(base.clone()) {
                return base;
            }
            for i in 2.. {
                let alt = format!("{base}({i})");
                if names.insert(alt.clone()) {
                    return alt;
                }
            }
            unreachable!()
        };
        for i in 0..n {
            let (level, county_ix) = if i < n_t {
                (Level::Tertiary, 0)
            } else if i < n_t + n_s {
                // One secondary hospital per county first (the county hospital), then spread.
                let j = i - n_t;
                (
                    Level::Secondary,
                    if j + 1 < n_counties {
                        j + 1
                    } else {
                        rng.random_range(0..n_counties)
                    },
                )
            } else if i < n_t + n_s + n_p {
                (Level::Primary, rng.random_range(0..n_counties))
            } else {
                (Level::Grassroots, rng.random_range(0..n_counties))
            };
            let county = counties[county_ix].clone();
            let short = county
                .trim_end_matches("市辖区")
                .trim_end_matches('县')
                .to_owned();
            // The city districts' own institutions carry the city's name.
            let place = if county_ix == 0 {
                format!("{name}市")
            } else {
                county.clone()
            };
            let ord = i - match level {
                Level::Tertiary => 0,
                Level::Secondary => n_t,
                Level::Primary => n_t + n_s,
                Level::Grassroots => n_t + n_s + n_p,
            };
            let (kind, base) = match level {
                Level::Tertiary => match ord {
                    0 => (Kind::General, format!("{name}市第一人民医院")),
                    1 => (Kind::Tcm, format!("{name}市中医院")),
                    2 => (Kind::General, format!("{name}市中心医院")),
                    3 => (
                        Kind::Specialty(Specialty::Oncology),
                        format!("{name}市肿瘤医院"),
                    ),
                    4 => (
                        Kind::Specialty(Specialty::Maternity),
                        format!("{name}市妇幼保健院"),
                    ),
                    5 => (
                        Kind::Specialty(Specialty::Mental),
                        format!("{name}市精神卫生中心"),
                    ),
                    _ => (
                        Kind::General,
                        format!("{name}市第{}人民医院", cn_number(ord)),
                    ),
                },
                Level::Secondary => {
                    let r: f64 = rng.random();
                    if ord + 1 < n_counties {
                        (Kind::General, format!("{county}人民医院"))
                    } else if r < 0.35 {
                        (Kind::Tcm, format!("{place}中医院"))
                    } else if r < 0.5 {
                        (
                            Kind::Specialty(Specialty::Maternity),
                            format!("{place}妇幼保健院"),
                        )
                    } else if r < 0.58 {
                        (
                            Kind::Specialty(Specialty::Mental),
                            format!("{short}精神病医院"),
                        )
                    } else if r < 0.66 {
                        (
                            Kind::Specialty(Specialty::Orthopaedic),
                            format!("{short}骨科医院"),
                        )
                    } else {
                        (Kind::General, format!("{place}第二人民医院"))
                    }
                }
                Level::Primary => {
                    let town = TOWNS[rng.random_range(0..TOWNS.len())];
                    if rng.random_bool(0.1) {
                        (Kind::Tcm, format!("{short}{town}中医医院"))
                    } else {
                        (Kind::General, format!("{short}{town}镇中心卫生院"))
                    }
                }
                Level::Grassroots => {
                    let town = TOWNS[rng.random_range(0..TOWNS.len())];
                    if county_ix == 0 {
                        (Kind::General, format!("{town}街道社区卫生服务中心"))
                    } else {
                        (Kind::General, format!("{short}{town}乡卫生院"))
                    }
                }
            };
            let z: f64 = StandardNormal.sample(&mut rng);
            let (volume, beds) = match level {
                Level::Tertiary => (40.0 * (0.3 * z).exp(), rng.random_range(800..2000)),
                Level::Secondary => (12.0 * (0.3 * z).exp(), rng.random_range(200..600)),
                Level::Primary => (3.0 * (0.3 * z).exp(), rng.random_range(50..150)),
                Level::Grassroots => ((0.3 * z).exp(), rng.random_range(20..60)),
            };
            let volume = match kind {
                Kind::Specialty(_) => volume * 0.5,
                _ => volume,
            };
            let zc: f64 = StandardNormal.sample(&mut rng);
            insts.push(Institution {
                id: format!("H{:04}", i + 1),
                name: unique(base, &mut names),
                level,
                kind,
                county,
                alliance: None,
                drg: level <= Level::Secondary,
                dip: level > Level::Secondary,
                beds,
                volume,
                cost_factor: (0.08 * zc).exp(),
            });
        }
        // 医共体: in each county outside the city districts, the county hospital leads,
        // and most primary and grassroots institutions of the county are members.
        for (ci, county) in counties.iter().enumerate().skip(1) {
            let Some(lead) = insts
                .iter()
                .position(|h| &h.county == county && h.level == Level::Secondary)
            else {
                continue;
            };
            let lead_id = insts[lead].id.clone();
            let alliance_id = format!("YGT{ci:02}");
            for h in insts.iter_mut().filter(|h| &h.county == county) {
                if h.id == lead_id || (h.level >= Level::Primary && rng.random_bool(0.85)) {
                    h.alliance = Some((alliance_id.clone(), lead_id.clone()));
                }
            }
        }
        Region {
            region_id: region_id.to_owned(),
            name: name.to_owned(),
            institutions: insts,
        }
    }

    /// Write `institutions.csv`.
    pub fn write_csv(&self, w: &mut impl Write) -> io::Result<()> {
        writeln!(
            w,
            "institution_id,name,level,type,specialty,county,alliance_id,alliance_lead_id,is_alliance_lead,drg_payment,dip_payment,tcm,beds,region_id"
        )?;
        for h in &self.institutions {
            let (aid, lead) = h
                .alliance
                .as_ref()
                .map(|(a, l)| (a.as_str(), l.as_str()))
                .unwrap_or(("", ""));
            let spec = match h.kind {
                Kind::Specialty(s) => s.zh(),
                _ => "",
            };
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                h.id,
                h.name,
                h.level.zh(),
                h.kind.zh(),
                spec,
                h.county,
                aid,
                lead,
                u8::from(lead == h.id),
                u8::from(h.drg),
                u8::from(h.dip),
                u8::from(h.kind == Kind::Tcm),
                h.beds,
                self.region_id
            )?;
        }
        Ok(())
    }
}

fn cn_number(n: usize) -> String {
    const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => D[n].to_owned(),
        10..=19 => format!("十{}", if n == 10 { "" } else { D[n - 10] }),
        20..=99 => format!(
            "{}十{}",
            D[n / 10],
            match n % 10 {
                0 => "",
                d => D[d],
            }
        ),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_shape() {
        let r = Region::generate(200, 1, "990100", "云川");
        let count = |l| r.institutions.iter().filter(|h| h.level == l).count();
        assert_eq!(r.institutions.len(), 200);
        assert!(
            count(Level::Tertiary) >= 6
                && count(Level::Secondary) >= 30
                && count(Level::Grassroots) >= 50
        );
        let names: std::collections::BTreeSet<_> = r.institutions.iter().map(|h| &h.name).collect();
        assert_eq!(names.len(), 200, "names are unique");
        assert!(
            r.institutions
                .iter()
                .any(|h| h.alliance.as_ref().is_some_and(|(_, l)| *l == h.id)),
            "some lead"
        );
        assert!(r.institutions.iter().any(|h| h.kind == Kind::Tcm));
        let small = Region::generate(3, 1, "990100", "云川");
        assert_eq!(small.institutions.len(), 3);
    }
}
