//! Reports: the monthly feedback to each institution, the quarterly bulletin
//! of the data group (seed 003 三(三)) and the annual disclosure (seed 002 §46),
//! rendered as self-contained HTML (Chinese labels, inline style, no external
//! assets) and as XLSX workbooks (one sheet per table), both in memory.

use std::fmt::Write as _;

use rustc_hash::FxHashMap;

use crate::detect::{Detection, Pattern};
use crate::indicators::{change, Dim, Indicators, Period, PeriodKind, Values};
use crate::model::{Dataset, NO_GROUP};

/// A table cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A number shown with the given decimals.
    Num(f64, usize),
    /// A ratio shown as a percentage with two decimals.
    Pct(f64),
    /// Money in fen, shown in yuan.
    Money(i64),
    Empty,
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => v.to_string(),
            Cell::Num(v, d) if v.is_finite() => format!("{v:.d$}"),
            Cell::Pct(v) if v.is_finite() => format!("{:.2}%", v * 100.0),
            Cell::Money(f) => claims::Fen(*f).to_string(),
            _ => String::new(),
        }
    }
    fn numeric(&self) -> bool {
        !matches!(self, Cell::Text(_) | Cell::Empty)
    }
}

fn opt_pct(v: Option<f64>) -> Cell {
    v.map_or(Cell::Empty, Cell::Pct)
}

/// A titled table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// A note under the table.
    pub note: String,
}

/// A report: title, lines of text, tables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub title: String,
    pub lines: Vec<String>,
    pub tables: Vec<Table>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Report {
    /// Self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(64 * 1024);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
             body{{font-family:\"Noto Sans CJK SC\",\"Microsoft YaHei\",sans-serif;margin:2em;color:#222}}\
             h1{{font-size:1.5em}}h2{{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #aaa}}\
             table{{border-collapse:collapse;margin:.5em 0;font-size:.9em}}\
             th,td{{border:1px solid #bbb;padding:3px 8px}}th{{background:#eef2f7}}\
             td.n{{text-align:right;font-variant-numeric:tabular-nums}}p.note{{color:#555;font-size:.85em}}\
             </style></head><body>\n<h1>{}</h1>\n",
            esc(&self.title),
            esc(&self.title)
        );
        for l in &self.lines {
            let _ = writeln!(h, "<p>{}</p>", esc(l));
        }
        for t in &self.tables {
            let _ = writeln!(h, "<h2>{}</h2>\n<table><thead><tr>", esc(&t.title));
            for c in &t.headers {
                let _ = write!(h, "<th>{}</th>", esc(c));
            }
            h.push_str("</tr></thead><tbody>\n");
            for r in &t.rows {
                h.push_str("<tr>");
                for c in r {
                    let cls = if c.numeric() { " class=\"n\"" } else { "" };
                    let _ = write!(h, "<td{cls}>{}</td>", esc(&c.text()));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</tbody></table>\n");
            if !t.note.is_empty() {
                let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(&t.note));
            }
        }
        h.push_str("</body></html>\n");
        h
    }

    /// XLSX workbook: a cover sheet with the title and lines, one sheet per table.
    pub fn to_xlsx(&self) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{Format, Workbook};
        let mut wb = Workbook::new();
        let bold = Format::new().set_bold();
        let pct = Format::new().set_num_format("0.00%");
        let money = Format::new().set_num_format("#,##0.00");
        let cover = wb.add_worksheet().set_name("说明")?;
        cover.write_string_with_format(0, 0, &self.title, &bold)?;
        for (i, l) in self.lines.iter().enumerate() {
            cover.write_string(i as u32 + 2, 0, l)?;
        }
        cover.set_column_width(0, 100)?;
        let mut used: Vec<String> = Vec::new();
        for (ti, t) in self.tables.iter().enumerate() {
            // Sheet names: at most 31 characters, unique, without []:*?/\.
            let mut name: String = t
                .title
                .chars()
                .filter(|c| !"[]:*?/\\".contains(*c))
                .take(28)
                .collect();
            if name.is_empty() || used.contains(&name) {
                name = format!("{}{}", name.chars().take(24).collect::<String>(), ti + 1);
            }
            used.push(name.clone());
            let ws = wb.add_worksheet().set_name(&name)?;
            ws.write_string_with_format(0, 0, &t.title, &bold)?;
            for (j, hd) in t.headers.iter().enumerate() {
                ws.write_string_with_format(1, j as u16, hd, &bold)?;
                ws.set_column_width(j as u16, 14)?;
            }
            for (i, r) in t.rows.iter().enumerate() {
                let row = i as u32 + 2;
                for (j, c) in r.iter().enumerate() {
                    let col = j as u16;
                    match c {
                        Cell::Text(s) => {
                            ws.write_string(row, col, s)?;
                        }
                        Cell::Int(v) => {
                            ws.write_number(row, col, *v as f64)?;
                        }
                        Cell::Num(v, _) if v.is_finite() => {
                            ws.write_number(row, col, *v)?;
                        }
                        Cell::Pct(v) if v.is_finite() => {
                            ws.write_number_with_format(row, col, *v, &pct)?;
                        }
                        // Yuan as a number (display only; the exact amount is the fen integer / 100).
                        Cell::Money(f) => {
                            ws.write_number_with_format(row, col, *f as f64 / 100.0, &money)?;
                        }
                        _ => {}
                    }
                }
            }
            if !t.note.is_empty() {
                ws.write_string(t.rows.len() as u32 + 3, 0, &t.note)?;
            }
        }
        wb.save_to_buffer()
    }
}

/// Name of a dimension value.
pub fn dim_name(data: &Dataset, d: Dim) -> (String, String) {
    let levels = data.levels();
    match d {
        Dim::Region => ("全区".into(), String::new()),
        Dim::Institution(i) => {
            let x = &data.institutions[i as usize];
            (x.id.clone(), x.name.clone())
        }
        Dim::Level(l) => (
            levels.get(l as usize).cloned().unwrap_or_default(),
            String::new(),
        ),
        Dim::Department(i, dp) => (
            data.institutions[i as usize].id.clone(),
            data.departments[dp as usize].clone(),
        ),
        Dim::Group(g) => {
            let x = &data.groups[g as usize];
            (x.code.clone(), x.name.clone())
        }
    }
}

/// Headers of [`indicator_cells`].
pub const INDICATOR_HEADERS: &[&str] = &[
    "病例数",
    "入组率",
    "DRG组数",
    "总权重",
    "CMI",
    "时间消耗指数",
    "费用消耗指数",
    "平均住院日",
    "次均费用(元)",
    "次均费用同比",
    "总费用(元)",
    "统筹基金支付(元)",
    "个人负担比",
    "自费比",
    "转院率",
    "低风险组死亡率",
    "质控通过率",
    "特例单议占比",
];

/// Cells of one indicator row.
pub fn indicator_cells(v: &Values, prev: Option<&Values>) -> Vec<Cell> {
    vec![
        Cell::Int(v.cases as i64),
        Cell::Pct(v.group_in_rate),
        Cell::Int(i64::from(v.drg_count)),
        Cell::Num(v.total_weight, 2),
        Cell::Num(v.cmi, 4),
        Cell::Num(v.time_index, 4),
        Cell::Num(v.cost_index, 4),
        Cell::Num(v.avg_los, 2),
        Cell::Money(v.avg_cost),
        opt_pct(change(v.avg_cost as f64, prev.map(|p| p.avg_cost as f64))),
        Cell::Money(v.total_cost),
        Cell::Money(v.fund),
        Cell::Pct(v.self_pay_ratio),
        Cell::Pct(v.out_of_scope_ratio),
        Cell::Pct(v.transfer_rate),
        opt_pct(v.low_risk_mortality),
        opt_pct(v.qc_pass_rate),
        opt_pct(v.special_share),
    ]
}

/// Indicator table of all rows of one kind of dimension in one period.
pub fn indicator_table(
    data: &Dataset,
    ind: &Indicators,
    title: &str,
    period: Period,
    pick: impl Fn(Dim) -> bool,
) -> Table {
    let mut rows: Vec<(&crate::indicators::Row, (String, String))> = ind
        .rows
        .iter()
        .filter(|r| r.period == period && pick(r.dim))
        .map(|r| (r, dim_name(data, r.dim)))
        .collect();
    rows.sort_by_key(|a| a.0.dim);
    let mut headers = vec!["编码".to_string(), "名称".to_string()];
    headers.extend(INDICATOR_HEADERS.iter().map(|s| s.to_string()));
    Table {
        title: title.to_owned(),
        headers,
        rows: rows
            .into_iter()
            .map(|(r, (code, name))| {
                let mut cells = vec![Cell::Text(code), Cell::Text(name)];
                cells.extend(indicator_cells(&r.v, r.prev.as_ref()));
                cells
            })
            .collect(),
        note: String::new(),
    }
}

const INDICATOR_NOTE: &str = "入组率=入组病例/病例；CMI=总权重/入组病例；时间(费用)消耗指数=Σ(本单位某组平均住院日(费用)/全区同期该组平均)×该组病例占比；\
个人负担比=(个人自付+个人自费)/总费用；自费比=个人自费/总费用；低风险组=ln(RW)标准化值<−1的DRG组。定义详见 docs/MONITORING.md。";

/// Optional per-case extras for the monthly feedback.
#[derive(Clone, Debug, Default)]
pub struct CaseExtras {
    /// Points (点数) per case index, when computed.
    pub points: FxHashMap<u32, f64>,
    /// QC findings per case index (rule and message), when given.
    pub qc: FxHashMap<u32, Vec<String>>,
}

/// Monthly feedback to one institution (月度反馈): its indicators against its
/// level and the region, grouping results by DRG, points and QC findings when
/// given, and the detectors' flags of the month.
pub fn monthly_feedback(
    data: &Dataset,
    ind: &Indicators,
    det: &Detection,
    extras: &CaseExtras,
    inst: u32,
    period: Period,
) -> Report {
    let x = &data.institutions[inst as usize];
    let level = data.level_of_institutions()[inst as usize];
    let mut r = Report {
        title: format!("{} {} 医保支付方式运行月度反馈", x.name_or_id(), period),
        ..Default::default()
    };
    r.lines.push(format!(
        "机构编码：{}；级别：{}；统计期：{}（按出院日期）。",
        x.id, x.level, period
    ));
    let mut summary = Table {
        title: "主要指标（本机构、同级别、全区）".into(),
        headers: ["单位".to_string(), "名称".to_string()]
            .into_iter()
            .chain(INDICATOR_HEADERS.iter().map(|s| s.to_string()))
            .collect(),
        note: INDICATOR_NOTE.into(),
        ..Default::default()
    };
    for d in [Dim::Institution(inst), Dim::Level(level), Dim::Region] {
        if let Some(row) = ind.get(d, period) {
            let (a, b) = dim_name(data, d);
            let mut cells = vec![Cell::Text(a), Cell::Text(b)];
            cells.extend(indicator_cells(&row.v, row.prev.as_ref()));
            summary.rows.push(cells);
        }
    }
    r.tables.push(summary);

    // Grouping results by DRG.
    let in_period = |c: &crate::model::Case| c.inst == inst && period.contains(c.year(), c.month());
    let mut by_group: FxHashMap<u32, (u64, i64, u64, f64)> = FxHashMap::default();
    let mut ungrouped = 0u64;
    for (i, c) in data.cases.iter().enumerate() {
        if !in_period(c) {
            continue;
        }
        if c.drg == NO_GROUP {
            ungrouped += 1;
            continue;
        }
        let e = by_group.entry(c.drg).or_default();
        e.0 += 1;
        e.1 += c.total;
        e.2 += u64::from(c.los);
        e.3 += extras.points.get(&(i as u32)).copied().unwrap_or(0.0);
    }
    let mut groups: Vec<_> = by_group.into_iter().collect();
    groups.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    let with_points = !extras.points.is_empty();
    let mut t = Table {
        title: "分组结果".into(),
        headers: vec![
            "DRG".into(),
            "名称".into(),
            "病例数".into(),
            "次均费用(元)".into(),
            "平均住院日".into(),
        ],
        note: format!("未入组病例 {ungrouped} 例。"),
        ..Default::default()
    };
    if with_points {
        t.headers.push("点数合计".into());
    }
    for (g, (n, cost, los, pts)) in groups {
        let grp = &data.groups[g as usize];
        let mut row = vec![
            Cell::Text(grp.code.clone()),
            Cell::Text(grp.name.clone()),
            Cell::Int(n as i64),
            Cell::Money(weights::mean_fen(i128::from(cost), n).0),
            Cell::Num(los as f64 / n as f64, 2),
        ];
        if with_points {
            row.push(Cell::Num(pts, 2));
        }
        t.rows.push(row);
    }
    r.tables.push(t);

    if !extras.qc.is_empty() {
        let mut t = Table {
            title: "结算清单质控问题".into(),
            headers: vec!["病例".into(), "问题".into()],
            ..Default::default()
        };
        let mut ids: Vec<u32> = extras
            .qc
            .keys()
            .copied()
            .filter(|&i| in_period(&data.cases[i as usize]))
            .collect();
        ids.sort_unstable();
        for i in ids {
            t.rows.push(vec![
                Cell::Text(data.case_ids[i as usize].to_owned()),
                Cell::Text(extras.qc[&i].join("；")),
            ]);
        }
        r.tables.push(t);
    }

    let mut t = Table {
        title: "疑点病例与机构筛查".into(),
        headers: vec![
            "类型".into(),
            "病例".into(),
            "出院日期".into(),
            "依据".into(),
        ],
        note: "疑点为监测线索，需经审核确认，不等同于违规认定。".into(),
        ..Default::default()
    };
    for s in det
        .screened
        .iter()
        .filter(|s| s.inst == inst && s.year == period.year)
    {
        t.rows.push(vec![
            Cell::Text(s.pattern.zh().into()),
            Cell::Text("（机构）".into()),
            Cell::Text(s.year.to_string()),
            Cell::Text(s.reason.clone()),
        ]);
    }
    for f in det.flags.iter().filter(|f| f.inst == inst) {
        match f.case {
            Some(ci) => {
                let c = &data.cases[ci as usize];
                if !period.contains(c.year(), c.month()) {
                    continue;
                }
                t.rows.push(vec![
                    Cell::Text(f.pattern.zh().into()),
                    Cell::Text(data.case_ids[ci as usize].to_owned()),
                    Cell::Text(crate::model::date(c.discharged).to_string()),
                    Cell::Text(f.reason.clone()),
                ]);
            }
            None if f.year == period.year => t.rows.push(vec![
                Cell::Text(f.pattern.zh().into()),
                Cell::Text("（机构）".into()),
                Cell::Text(f.year.to_string()),
                Cell::Text(f.reason.clone()),
            ]),
            None => {}
        }
    }
    r.tables.push(t);
    r
}

impl crate::model::Institution {
    /// The name, or the id when there is none.
    pub fn name_or_id(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }
}

/// Fund and cost by cost item (14 national categories) over the months of a period.
fn items_table(data: &Dataset, period: Period, title: &str) -> Table {
    let mut sums = [0i64; 14];
    for (&(_, y, m), v) in &data.items {
        if period.contains(y, m) {
            for (s, x) in sums.iter_mut().zip(v) {
                *s += x;
            }
        }
    }
    let mut prev = [0i64; 14];
    let pp = period.previous_year();
    for (&(_, y, m), v) in &data.items {
        if pp.contains(y, m) {
            for (s, x) in prev.iter_mut().zip(v) {
                *s += x;
            }
        }
    }
    let total: i64 = sums.iter().sum();
    let mut t = Table {
        title: title.into(),
        headers: vec![
            "费用项目".into(),
            "金额(元)".into(),
            "构成比".into(),
            "同比".into(),
        ],
        ..Default::default()
    };
    for (i, f) in claims::COST_CATEGORIES.iter().enumerate() {
        let prev_v = (prev[i] != 0).then_some(prev[i] as f64);
        t.rows.push(vec![
            Cell::Text(f.zh().into()),
            Cell::Money(sums[i]),
            Cell::Pct(if total > 0 {
                sums[i] as f64 / total as f64
            } else {
                0.0
            }),
            opt_pct(change(sums[i] as f64, prev_v)),
        ]);
    }
    t.rows.push(vec![
        Cell::Text("合计".into()),
        Cell::Money(total),
        Cell::Pct(1.0),
        Cell::Empty,
    ]);
    t
}

/// Quarterly bulletin of the data group (季度通报, seed 003 三(三)): fund
/// operation overall and by item, distribution of institutions' costs, and
/// average LOS, cost and self-pay ratio by level.
pub fn quarterly_bulletin(
    data: &Dataset,
    ind: &Indicators,
    det: &Detection,
    period: Period,
) -> Report {
    let mut r = Report {
        title: format!("{period} 医保基金运行情况通报（医保数据工作组）"),
        ..Default::default()
    };
    if let Some(row) = ind.get(Dim::Region, period) {
        let v = &row.v;
        let p = row.prev.as_ref();
        let yoy = |cur: f64, prev: Option<f64>| {
            change(cur, prev).map_or("—".to_string(), |c| format!("{:+.2}%", c * 100.0))
        };
        r.lines.push(format!(
            "本期出院 {} 人次（同比 {}），医疗总费用 {} 元（同比 {}），统筹基金支付 {} 元（同比 {}），\
             基金支付占总费用 {:.2}%；次均费用 {} 元，平均住院日 {:.2} 天，个人负担比 {:.2}%，入组率 {:.2}%，CMI {:.4}。",
            v.cases,
            yoy(v.cases as f64, p.map(|p| p.cases as f64)),
            claims::Fen(v.total_cost),
            yoy(v.total_cost as f64, p.map(|p| p.total_cost as f64)),
            claims::Fen(v.fund),
            yoy(v.fund as f64, p.map(|p| p.fund as f64)),
            v.fund_ratio * 100.0,
            claims::Fen(v.avg_cost),
            v.avg_los,
            v.self_pay_ratio * 100.0,
            v.group_in_rate * 100.0,
            v.cmi
        ));
    }
    r.lines
        .push("基金收入、结余等需由经办机构提供，本通报仅含结算清单可得的支出侧数据。".into());
    r.tables.push(items_table(data, period, "分项费用（14类）"));
    let mut by_level = indicator_table(data, ind, "各级别机构主要指标", period, |d| {
        matches!(d, Dim::Level(_))
    });
    by_level.note = INDICATOR_NOTE.into();
    r.tables.push(by_level);

    // Distribution of institutions' average cost per case and cost index.
    let rows: Vec<&crate::indicators::Row> = ind
        .rows
        .iter()
        .filter(|x| x.period == period && matches!(x.dim, Dim::Institution(_)))
        .collect();
    let mut avg: Vec<f64> = rows.iter().map(|x| x.v.avg_cost as f64).collect();
    let mut cei: Vec<f64> = rows
        .iter()
        .filter(|x| x.v.grouped > 0)
        .map(|x| x.v.cost_index)
        .collect();
    avg.sort_by(f64::total_cmp);
    cei.sort_by(f64::total_cmp);
    let q = |v: &[f64], p: f64| -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        v[((p * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)]
    };
    let mut t = Table {
        title: "医疗机构费用分布".into(),
        headers: vec![
            "指标".into(),
            "最小".into(),
            "P25".into(),
            "中位数".into(),
            "P75".into(),
            "最大".into(),
        ],
        note: format!(
            "共 {} 家机构有出院病例；费用消耗指数已按病组结构调整。",
            rows.len()
        ),
        ..Default::default()
    };
    t.rows.push(
        std::iter::once(Cell::Text("次均费用(元)".into()))
            .chain(
                [0.0, 0.25, 0.5, 0.75, 1.0]
                    .iter()
                    .map(|&p| Cell::Money(q(&avg, p) as i64)),
            )
            .collect(),
    );
    t.rows.push(
        std::iter::once(Cell::Text("费用消耗指数".into()))
            .chain(
                [0.0, 0.25, 0.5, 0.75, 1.0]
                    .iter()
                    .map(|&p| Cell::Num(q(&cei, p), 4)),
            )
            .collect(),
    );
    r.tables.push(t);
    r.tables.push(indicator_table(
        data,
        ind,
        "各机构主要指标",
        period,
        |d| matches!(d, Dim::Institution(_)),
    ));
    r.tables.push(flag_summary(data, det, period));
    r
}

/// Counts of flags per institution and pattern in a period.
pub fn flag_summary(data: &Dataset, det: &Detection, period: Period) -> Table {
    let mut counts: FxHashMap<u32, [u64; 5]> = FxHashMap::default();
    for f in &det.flags {
        let (y, m) = match f.case {
            Some(ci) => {
                let c = &data.cases[ci as usize];
                (c.year(), c.month())
            }
            None => (
                f.year,
                if period.kind == PeriodKind::Year {
                    1
                } else {
                    0
                },
            ),
        };
        let hit = if f.case.is_none() {
            f.year == period.year
        } else {
            period.contains(y, m)
        };
        if hit {
            let k = Pattern::ALL
                .iter()
                .position(|p| *p == f.pattern)
                .unwrap_or(0);
            counts.entry(f.inst).or_default()[k] += 1;
        }
    }
    let mut insts: Vec<u32> = counts.keys().copied().collect();
    insts.sort_unstable();
    let mut t = Table {
        title: "疑点监测汇总".into(),
        headers: std::iter::once("机构".to_string())
            .chain(std::iter::once("名称".to_string()))
            .chain(Pattern::ALL.iter().map(|p| p.zh().to_string()))
            .collect(),
        note: "病例数（推诿患者为机构级，1 表示该机构被提示）。疑点需经审核确认。".into(),
        ..Default::default()
    };
    for i in insts {
        let x = &data.institutions[i as usize];
        let mut row = vec![Cell::Text(x.id.clone()), Cell::Text(x.name.clone())];
        row.extend(counts[&i].iter().map(|&n| Cell::Int(n as i64)));
        t.rows.push(row);
    }
    t
}

/// Annual disclosure (年度信息公开, seed 002 §46): per institution, services,
/// total cost, cost structure, fund settlement and patient burden, with
/// year-on-year growth.
pub fn annual_disclosure(data: &Dataset, ind: &Indicators, year: i32) -> Report {
    let period = Period::year(year);
    let mut r = Report {
        title: format!("{year} 年度医保基金使用信息公开"),
        ..Default::default()
    };
    r.lines.push(
        "依据：定期向社会公开定点机构服务人次、总体费用、费用结构、医保结算、患者负担等指标运行数据及同比增长情况。".into(),
    );
    r.lines
        .push("医保基金收入、结余需由经办机构提供；本表为结算清单可得的支出侧数据。".into());
    if let Some(cov) = ind
        .institution_coverage
        .iter()
        .find(|c| c.0 == year)
        .and_then(|c| c.1)
    {
        r.lines.push(format!(
            "DRG/DIP 付费机构覆盖率（有住院病例的机构中）：{:.2}%。",
            cov * 100.0
        ));
    }
    r.tables.push(items_table(data, period, "全区费用结构"));
    let mut t = Table {
        title: "定点医疗机构运行情况".into(),
        headers: vec![
            "机构".into(),
            "名称".into(),
            "级别".into(),
            "服务人次".into(),
            "人次同比".into(),
            "总费用(元)".into(),
            "总费用同比".into(),
            "统筹基金支付(元)".into(),
            "基金支付同比".into(),
            "次均费用(元)".into(),
            "次均费用同比".into(),
            "个人负担比".into(),
            "自费比".into(),
            "药品费占比".into(),
            "耗材费占比".into(),
        ],
        ..Default::default()
    };
    for row in ind.rows.iter().filter(|x| x.period == period) {
        let Dim::Institution(i) = row.dim else {
            continue;
        };
        let x = &data.institutions[i as usize];
        let (v, p) = (&row.v, row.prev.as_ref());
        let mut items = [0i64; 14];
        for m in 1..=12 {
            if let Some(s) = data.items.get(&(i, year, m)) {
                for (a, b) in items.iter_mut().zip(s) {
                    *a += b;
                }
            }
        }
        let tot: i64 = items.iter().sum();
        let share = |ix: &[usize]| {
            if tot > 0 {
                Cell::Pct(ix.iter().map(|&k| items[k]).sum::<i64>() as f64 / tot as f64)
            } else {
                Cell::Empty
            }
        };
        t.rows.push(vec![
            Cell::Text(x.id.clone()),
            Cell::Text(x.name.clone()),
            Cell::Text(x.level.clone()),
            Cell::Int(v.cases as i64),
            opt_pct(change(v.cases as f64, p.map(|p| p.cases as f64))),
            Cell::Money(v.total_cost),
            opt_pct(change(v.total_cost as f64, p.map(|p| p.total_cost as f64))),
            Cell::Money(v.fund),
            opt_pct(change(v.fund as f64, p.map(|p| p.fund as f64))),
            Cell::Money(v.avg_cost),
            opt_pct(change(v.avg_cost as f64, p.map(|p| p.avg_cost as f64))),
            Cell::Pct(v.self_pay_ratio),
            Cell::Pct(v.out_of_scope_ratio),
            // Drugs: western, herbal, patent medicine; materials.
            share(&[8, 9, 10]),
            share(&[7]),
        ]);
    }
    r.tables.push(t);
    let mut lv = indicator_table(data, ind, "各级别机构主要指标", period, |d| {
        matches!(d, Dim::Level(_))
    });
    lv.note = INDICATOR_NOTE.into();
    r.tables.push(lv);
    let mut g = indicator_table(data, ind, "各病组费用与增长", period, |d| {
        matches!(d, Dim::Group(_))
    });
    g.note = "次均费用同比即病组费用增长率。".into();
    r.tables.push(g);
    r
}
