//! Importer for the published CHS-DRG table layout (the `*_grouper_rule.xlsx` workbooks
//! agencies receive: sheets MDC信息, ADRG信息, DRG信息, MDC诊断表, ADRG诊断表, ADRG手术表,
//! MCC, CC, 排除诊断表, DRG分组规则).
//!
//! The importer is pure: the caller reads the workbook (e.g. with `calamine`) into a
//! [`Workbook`] of string cells. Rule expressions (`is_pd2(case, 'BB1') and
//! is_op2(case, 'BB1')`) are translated into [`Cond`]s; expressions that the scheme
//! format cannot express exactly are reported in [`Imported::untranslatable`] and
//! imported as `false`, so the affected node never matches instead of matching wrongly.
//!
//! Translation:
//! * Tables become the node's lists `zd:T` (diagnoses) and `ss:T` (procedures).
//! * `is_pd1(case, 'T')` / `is_pd2(case, 'T')`: the main diagnosis is in table `T` of
//!   MDC诊断表 / ADRG诊断表; `is_pdN(case, 'T') or is_sdN(case, 'T')`: some diagnosis is in
//!   `T`. A lone `is_sdN` (secondary diagnoses only) is untranslatable.
//! * `is_op2(case, 'T')`: the main procedure is in table `T` of ADRG手术表 when `T` is an
//!   ADRG code; some procedure is in `T` when `T` is a sub-table such as `FB2_01` (the
//!   reading of the CHS-DRG 1.1 encoding in `shared/reference/chs-drg-1.1`).
//! * `case.age`, `case.gender` (sex), `case.newborn_birth_weight` (weight_g) with
//!   `== != < <= > >=`, chained (`0 < w < 1500`); `and`, `or`, `not`, parentheses.
//! * `-1` (no rule) and `1` are true; `0` is false.
//! * `case.newborn_age_month` and `multi_wound(case)` have no counterpart in the case
//!   model or tables (no month age, no trauma-site table): untranslatable.
//! * DRG `mcc`/`cc` columns: (1, 0) → `mcc`, (0, 1) → `mcc_or_cc`, (0, 0) and (-1, -1) → `always`.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::scheme::{Adrg, CmpOp, Cond, Drg, DrgRule, Field, Lists, Mdc, Scheme, SS_VALID};

/// A workbook as string cells: sheet name → rows (the first row is the header).
pub type Workbook = BTreeMap<String, Vec<Vec<String>>>;

/// An expression the scheme format cannot express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable {
    /// The node, e.g. `MDC MDCZ` or `ADRG PB1`.
    pub node: String,
    /// The whole rule expression.
    pub expr: String,
    /// Why.
    pub why: String,
}

/// Result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The scheme.
    pub scheme: Scheme,
    /// Rule expressions imported as `false`.
    pub untranslatable: Vec<Untranslatable>,
    /// Other remarks (inconsistent rows, rules that are constant false, ...).
    pub warnings: Vec<String>,
}

/// A workbook that cannot be imported at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sheet {sheet}{}: {what}", row.map(|r| format!(" row {r}")).unwrap_or_default())]
pub struct ImportError {
    /// Sheet name.
    pub sheet: String,
    /// 1-based row, if any.
    pub row: Option<usize>,
    /// What is wrong.
    pub what: String,
}

struct Sheet<'w> {
    name: &'static str,
    rows: &'w [Vec<String>],
    cols: FxHashMap<&'w str, usize>,
}

impl<'w> Sheet<'w> {
    fn open(wb: &'w Workbook, name: &'static str, need: &[&str]) -> Result<Sheet<'w>, ImportError> {
        let rows = wb.get(name).ok_or_else(|| ImportError {
            sheet: name.into(),
            row: None,
            what: "missing sheet".into(),
        })?;
        let header = rows.first().map(Vec::as_slice).unwrap_or_default();
        let cols: FxHashMap<&str, usize> = header
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim(), i))
            .collect();
        for n in need {
            if !cols.contains_key(n) {
                return Err(ImportError {
                    sheet: name.into(),
                    row: Some(1),
                    what: format!("missing column `{n}`"),
                });
            }
        }
        Ok(Sheet { name, rows, cols })
    }

    /// Data rows with their 1-based row numbers.
    fn rows(&self) -> impl Iterator<Item = (usize, &'w [String])> + '_ {
        self.rows
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, r)| (i + 1, r.as_slice()))
            .filter(|(_, r)| r.iter().any(|c| !c.trim().is_empty()))
    }

    fn get<'r>(&self, row: &'r [String], col: &str) -> &'r str {
        self.cols
            .get(col)
            .and_then(|&i| row.get(i))
            .map_or("", |s| s.trim())
    }
}

/// Reads an `.xlsx` workbook from its bytes into string cells (numbers that are whole
/// are written without a fraction, so `1.0` reads `1`).
pub fn workbook_from_xlsx(bytes: &[u8]) -> Result<Workbook, ImportError> {
    use calamine::{Data, Reader, Xlsx};
    let err = |sheet: &str, e: &dyn std::fmt::Display| ImportError {
        sheet: sheet.to_string(),
        row: None,
        what: e.to_string(),
    };
    let mut xlsx: Xlsx<_> =
        Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| err("(workbook)", &e))?;
    let mut wb = Workbook::new();
    for name in xlsx.sheet_names() {
        let range = xlsx.worksheet_range(&name).map_err(|e| err(&name, &e))?;
        let rows = range
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::Empty => String::new(),
                        Data::String(s) => s.clone(),
                        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                            format!("{}", *f as i64)
                        }
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        wb.insert(name, rows);
    }
    Ok(wb)
}

/// Imports a workbook in the published layout.
pub fn import_workbook(wb: &Workbook, name: &str) -> Result<Imported, ImportError> {
    let mut warnings = Vec::new();
    let mut untranslatable = Vec::new();

    // Code tables: classification → codes.
    let tables = |sheet: &'static str,
                  code_col: &str|
     -> Result<BTreeMap<String, Vec<Box<str>>>, ImportError> {
        let s = Sheet::open(wb, sheet, &["classification", code_col])?;
        let mut out: BTreeMap<String, Vec<Box<str>>> = BTreeMap::new();
        for (_, r) in s.rows() {
            let (t, c) = (s.get(r, "classification"), s.get(r, code_col));
            if !t.is_empty() && !c.is_empty() {
                out.entry(t.to_string()).or_default().push(c.into());
            }
        }
        for v in out.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        Ok(out)
    };
    let mdc_dx = tables("MDC诊断表", "diagnosis_code")?;
    let adrg_dx = tables("ADRG诊断表", "diagnosis_code")?;
    let adrg_op = tables("ADRG手术表", "operation_code")?;

    let complications =
        |sheet: &'static str| -> Result<FxHashMap<Box<str>, Box<str>>, ImportError> {
            let s = Sheet::open(wb, sheet, &["diagnosis_code", "excluded_table"])?;
            let mut out = FxHashMap::default();
            for (i, r) in s.rows() {
                let (c, t) = (s.get(r, "diagnosis_code"), s.get(r, "excluded_table"));
                if c.is_empty() || t.is_empty() {
                    return Err(ImportError {
                        sheet: s.name.into(),
                        row: Some(i),
                        what: "empty diagnosis_code or excluded_table".into(),
                    });
                }
                out.insert(c.into(), t.into());
            }
            Ok(out)
        };
    let mcc = complications("MCC")?;
    let cc = complications("CC")?;
    let s = Sheet::open(wb, "排除诊断表", &["table_name", "diagnosis_code"])?;
    let mut main_dx_exclusion: FxHashMap<Box<str>, Box<str>> = FxHashMap::default();
    for (i, r) in s.rows() {
        let (t, c) = (s.get(r, "table_name"), s.get(r, "diagnosis_code"));
        if let Some(old) = main_dx_exclusion.insert(c.into(), t.into()) {
            if *old != *t {
                warnings.push(format!(
                    "排除诊断表 row {i}: {c} is in tables {old} and {t}; the scheme keeps one table per main diagnosis ({t})"
                ));
            }
        }
    }

    let s = Sheet::open(wb, "DRG信息", &["drg_code", "drg_name"])?;
    let mut drg_names: FxHashMap<Box<str>, String> = FxHashMap::default();
    for (_, r) in s.rows() {
        let code = s.get(r, "drg_code");
        if !code.is_empty() && code != "0000" {
            drg_names.insert(code.into(), s.get(r, "drg_name").to_string());
        }
    }

    // The rules: MDC order, MDC rules, ADRG rules, DRG rules.
    let rules = Sheet::open(
        wb,
        "DRG分组规则",
        &[
            "mdc_code",
            "adrg_code",
            "drg_code",
            "mdc_rule",
            "adrg_rule",
            "mcc",
            "cc",
        ],
    )?;
    let mut mdc_order: Vec<String> = Vec::new();
    let mut mdc_rule: BTreeMap<String, String> = BTreeMap::new();
    // MDC → ADRGs in order; ADRG → (rule, DRGs).
    let mut adrg_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut adrg_rule: BTreeMap<String, String> = BTreeMap::new();
    let mut adrg_drgs: BTreeMap<String, Vec<Drg>> = BTreeMap::new();
    let push_mdc = |order: &mut Vec<String>, m: &str| {
        if !order.iter().any(|x| x == m) {
            order.push(m.to_string());
        }
    };
    for (i, r) in rules.rows() {
        let (m, a, d) = (
            rules.get(r, "mdc_code"),
            rules.get(r, "adrg_code"),
            rules.get(r, "drg_code"),
        );
        if a == "MDC" {
            // A pre-MDC row: `drg_code` holds the MDC, `mdc_rule` its rule.
            push_mdc(&mut mdc_order, m);
            push_mdc(&mut mdc_order, d);
            mdc_rule.insert(d.to_string(), rules.get(r, "mdc_rule").to_string());
            continue;
        }
        push_mdc(&mut mdc_order, m);
        let mr = rules.get(r, "mdc_rule");
        match mdc_rule.get(m) {
            None => {
                mdc_rule.insert(m.to_string(), mr.to_string());
            }
            Some(old) if old != mr && !(rules_is_none(mr)) => warnings.push(format!(
                "DRG分组规则 row {i}: {m} has rule `{mr}`, earlier `{old}`; the first is kept"
            )),
            _ => {}
        }
        let ar = rules.get(r, "adrg_rule");
        match adrg_rule.get(a) {
            None => {
                adrg_rule.insert(a.to_string(), ar.to_string());
                adrg_order
                    .entry(m.to_string())
                    .or_default()
                    .push(a.to_string());
            }
            Some(old) if old != ar => warnings.push(format!(
                "DRG分组规则 row {i}: ADRG {a} has rule `{ar}`, earlier `{old}`; the first is kept"
            )),
            _ => {}
        }
        let rule = match (rules.get(r, "mcc"), rules.get(r, "cc")) {
            ("1", "0") => DrgRule::Mcc,
            ("0", "1") => DrgRule::MccOrCc,
            ("0", "0") | ("-1", "-1") => DrgRule::Always,
            (x, y) => {
                warnings.push(format!(
                    "DRG分组规则 row {i}: DRG {d} has mcc={x}, cc={y}; imported as `always`"
                ));
                DrgRule::Always
            }
        };
        let name = drg_names.get(d).cloned().unwrap_or_default();
        adrg_drgs.entry(a.to_string()).or_default().push(Drg {
            code: d.to_string(),
            name,
            rule,
            when: crate::scheme::Cond::Const(true),
            lists: Default::default(),
        });
    }

    let mut mdcs = Vec::new();
    for m in &mdc_order {
        let expr = mdc_rule.get(m).map_or("-1", String::as_str);
        let mut lists = Lists::new();
        let mut ctx = Translate {
            node: format!("MDC {m}"),
            expr,
            dx_tables: &mdc_dx,
            op_tables: None,
            lists: &mut lists,
            problems: Vec::new(),
        };
        let when = ctx.translate(&mut warnings);
        untranslatable.extend(ctx.problems);
        let mut adrgs = Vec::new();
        for a in adrg_order.get(m).map_or(&[][..], Vec::as_slice) {
            let expr = adrg_rule.get(a).map_or("-1", String::as_str);
            let mut lists = Lists::new();
            let mut ctx = Translate {
                node: format!("ADRG {a}"),
                expr,
                dx_tables: &adrg_dx,
                op_tables: Some(&adrg_op),
                lists: &mut lists,
                problems: Vec::new(),
            };
            let when = if a.ends_with("QY") && (rules_is_none(expr.trim()) || expr.trim() == "1") {
                // 与主要诊断无关的手术 (QY) has no rule of its own in the layout: in
                // CHS-DRG it takes a case with an operating-room procedure that no
                // surgical ADRG of the MDC claimed. Read it so (some procedure in
                // SS_VALID), not as "always", which would swallow every medical case.
                warnings.push(format!(
                    "ADRG {a}: no rule in the workbook; read as `some procedure in SS_VALID` (CHS-DRG QY)"
                ));
                Cond::Intersects(Field::Procs, SS_VALID.to_owned())
            } else {
                ctx.translate(&mut warnings)
            };
            untranslatable.extend(ctx.problems);
            let drgs = adrg_drgs.remove(a).unwrap_or_default();
            if drgs.is_empty() {
                warnings.push(format!(
                    "ADRG {a}: no DRG in DRG信息; a case that enters it gets the ADRG code {a} as its DRG (E0)"
                ));
            }
            adrgs.push(Adrg {
                code: a.clone(),
                when,
                lists,
                proc_tags: BTreeMap::new(),
                drgs,
                ambiguous: false,
                no_drg_falls_through: false,
            });
        }
        mdcs.push(Mdc {
            code: m.clone(),
            when,
            lists,
            adrgs,
            trauma_sites: BTreeMap::new(),
        });
    }
    Ok(Imported {
        scheme: Scheme {
            name: name.to_string(),
            mdcs,
            cc,
            mcc,
            main_dx_exclusion,
            // The layout has no operating-room procedure list; no rule refers to SS_VALID.
            surgical_procedures: Vec::new(),
            drg_names,
            retry_with_each_secondary_proc: false,
        },
        untranslatable,
        warnings,
    })
}

fn rules_is_none(r: &str) -> bool {
    r.is_empty() || r == "-1"
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(i64),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Dot,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1
            }
            '\'' | '"' => {
                let end = cs[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .ok_or("unterminated string")?;
                out.push(Tok::Str(cs[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '<' | '>' | '=' | '!' => {
                let two = cs.get(i + 1) == Some(&'=');
                let op = match (c, two) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    ('>', false) => ">",
                    ('=', true) => "==",
                    ('!', true) => "!=",
                    _ => return Err(format!("unexpected `{c}`")),
                };
                out.push(Tok::Op(op));
                i += if two { 2 } else { 1 };
            }
            '-' | '0'..='9' => {
                let start = i;
                i += 1;
                while i < cs.len() && cs[i].is_ascii_digit() {
                    i += 1;
                }
                let t: String = cs[start..i].iter().collect();
                out.push(Tok::Num(
                    t.parse().map_err(|_| format!("bad number `{t}`"))?,
                ));
            }
            _ if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(cs[start..i].iter().collect()));
            }
            _ => return Err(format!("unexpected `{c}`")),
        }
    }
    Ok(out)
}

/// Parsed rule expression.
#[derive(Debug, Clone, PartialEq)]
enum Ast {
    Num(i64),
    Attr(String),
    Call(String, Vec<String>),
    And(Vec<Ast>),
    Or(Vec<Ast>),
    Not(Box<Ast>),
    /// Chained comparison: operands and operators between them.
    Cmp(Vec<Ast>, Vec<&'static str>),
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == k)
    }
    fn or(&mut self) -> Result<Ast, String> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Ast::Or(items)
        })
    }
    fn and(&mut self) -> Result<Ast, String> {
        let mut items = vec![self.not()?];
        while self.keyword("and") {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Ast::And(items)
        })
    }
    fn not(&mut self) -> Result<Ast, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Ast::Not(Box::new(self.not()?)));
        }
        let first = self.atom()?;
        let (mut items, mut ops) = (vec![first], Vec::new());
        while let Some(Tok::Op(op)) = self.peek() {
            ops.push(*op);
            self.pos += 1;
            items.push(self.atom()?);
        }
        Ok(if ops.is_empty() {
            items.remove(0)
        } else {
            Ast::Cmp(items, ops)
        })
    }
    fn atom(&mut self) -> Result<Ast, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Ast::Num(n)),
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("expected `)`".into()),
                }
            }
            Some(Tok::Ident(id)) if id == "case" => match (self.next(), self.next()) {
                (Some(Tok::Dot), Some(Tok::Ident(attr))) => Ok(Ast::Attr(attr)),
                _ => Err("expected `case.<field>`".into()),
            },
            Some(Tok::Ident(f)) => {
                if self.next() != Some(Tok::LParen) {
                    return Err(format!("expected `(` after `{f}`"));
                }
                let mut args = Vec::new();
                loop {
                    match self.next() {
                        Some(Tok::RParen) => break,
                        Some(Tok::Comma) => {}
                        Some(Tok::Ident(c)) if c == "case" => {}
                        Some(Tok::Str(s)) => args.push(s),
                        _ => return Err(format!("bad arguments of `{f}`")),
                    }
                }
                Ok(Ast::Call(f, args))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

struct Translate<'a> {
    node: String,
    expr: &'a str,
    dx_tables: &'a BTreeMap<String, Vec<Box<str>>>,
    op_tables: Option<&'a BTreeMap<String, Vec<Box<str>>>>,
    lists: &'a mut Lists,
    problems: Vec<Untranslatable>,
}

impl Translate<'_> {
    fn translate(&mut self, warnings: &mut Vec<String>) -> Cond {
        let expr = self.expr.trim();
        if rules_is_none(expr) || expr == "1" {
            return Cond::Const(true);
        }
        if expr == "0" {
            warnings.push(format!(
                "{}: rule is `0`, the node never matches",
                self.node
            ));
            return Cond::Const(false);
        }
        let ast = lex(expr).and_then(|toks| {
            let mut p = Parser { toks, pos: 0 };
            let e = p.or()?;
            if p.pos < p.toks.len() {
                return Err(format!("trailing input at token {}", p.pos + 1));
            }
            Ok(e)
        });
        match ast.and_then(|a| self.cond(&a)) {
            Ok(c) => c,
            Err(why) => {
                self.problems.push(Untranslatable {
                    node: self.node.clone(),
                    expr: expr.to_string(),
                    why,
                });
                Cond::Const(false)
            }
        }
    }

    fn table(&mut self, name: &str, procedures: bool) -> Result<String, String> {
        let tables = if procedures {
            self.op_tables
                .ok_or_else(|| "procedure tables are not available for an MDC".to_string())?
        } else {
            self.dx_tables
        };
        let codes = tables
            .get(name)
            .ok_or_else(|| format!("unknown table `{name}`"))?;
        // Diagnosis and procedure tables may share a name (`BB1`): prefix the list name.
        let list = format!("{}:{name}", if procedures { "ss" } else { "zd" });
        self.lists.insert(list.clone(), codes.clone());
        Ok(list)
    }

    fn call(&mut self, f: &str, args: &[String]) -> Result<Cond, String> {
        if f == "multi_wound" {
            return Err("`multi_wound` needs a trauma-site table, absent from the workbook".into());
        }
        let [t] = args else {
            return Err(format!("`{f}` expects one table name"));
        };
        match f {
            "is_pd1" | "is_pd2" => Ok(Cond::In(Field::MainDx, self.table(t, false)?)),
            "is_op2" => {
                let list = self.table(t, true)?;
                // A sub-table (`FB2_01`): any procedure; the ADRG's own table: the main one.
                Ok(if t.contains('_') {
                    Cond::Intersects(Field::Procs, list)
                } else {
                    Cond::And(vec![
                        Cond::Present(Field::Procs),
                        Cond::In(Field::MainProc, list),
                    ])
                })
            }
            "is_sd1" | "is_sd2" => Err(format!(
                "`{f}` tests secondary diagnoses only; the scheme can only test all diagnoses"
            )),
            _ => Err(format!("unknown function `{f}`")),
        }
    }

    fn cond(&mut self, a: &Ast) -> Result<Cond, String> {
        match a {
            Ast::Num(n) => Ok(Cond::Const(*n != 0)),
            Ast::Attr(x) => Err(format!("`case.{x}` is not a condition")),
            Ast::Call(f, args) => self.call(f, args),
            Ast::And(items) => Ok(Cond::And(
                items
                    .iter()
                    .map(|i| self.cond(i))
                    .collect::<Result<_, _>>()?,
            )),
            Ast::Or(items) => {
                // `is_pdN(T) or is_sdN(T)`: some diagnosis in T.
                let mut out = Vec::new();
                let mut used = BTreeSet::new();
                for (i, it) in items.iter().enumerate() {
                    if used.contains(&i) {
                        continue;
                    }
                    if let Ast::Call(f, args) = it {
                        let level = f.strip_prefix("is_pd").or_else(|| f.strip_prefix("is_sd"));
                        if let Some(level) = level {
                            let partner = if f.starts_with("is_pd") {
                                "is_sd"
                            } else {
                                "is_pd"
                            };
                            let want = Ast::Call(format!("{partner}{level}"), args.clone());
                            if let Some(j) = items.iter().position(|x| *x == want) {
                                used.insert(j);
                                let [t] = args.as_slice() else {
                                    return Err(format!("`{f}` expects one table name"));
                                };
                                out.push(Cond::Intersects(Field::Dx, self.table(t, false)?));
                                continue;
                            }
                        }
                    }
                    out.push(self.cond(it)?);
                }
                Ok(if out.len() == 1 {
                    out.remove(0)
                } else {
                    Cond::Or(out)
                })
            }
            Ast::Not(e) => Ok(Cond::Not(Box::new(self.cond(e)?))),
            Ast::Cmp(items, ops) => {
                let mut out = Vec::new();
                for (k, op) in ops.iter().enumerate() {
                    out.push(self.compare(&items[k], op, &items[k + 1])?);
                }
                Ok(if out.len() == 1 {
                    out.remove(0)
                } else {
                    Cond::And(out)
                })
            }
        }
    }

    fn compare(&self, l: &Ast, op: &str, r: &Ast) -> Result<Cond, String> {
        let field = |attr: &str| match attr {
            "age" => Ok(Field::Age),
            "gender" | "sex" => Ok(Field::Sex),
            "newborn_birth_weight" | "weight_g" => Ok(Field::WeightG),
            "age_days" | "newborn_age_day" | "newborn_age_days" => Ok(Field::AgeDays),
            other => Err(format!(
                "`case.{other}` has no counterpart in the case model"
            )),
        };
        let op = match op {
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            "==" => CmpOp::Eq,
            _ => CmpOp::Ne,
        };
        let flip = |op: CmpOp| match op {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        };
        match (l, r) {
            (Ast::Attr(a), Ast::Num(n)) => Ok(Cond::Cmp(op, field(a)?, *n)),
            (Ast::Num(n), Ast::Attr(a)) => Ok(Cond::Cmp(flip(op), field(a)?, *n)),
            _ => Err("a comparison needs a `case.<field>` and a number".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(expr: &str, adrg: bool) -> (Cond, Vec<Untranslatable>, Lists) {
        let dx: BTreeMap<String, Vec<Box<str>>> = [
            ("T".to_string(), vec!["A".into()]),
            ("B00".to_string(), vec!["B".into()]),
        ]
        .into();
        let op: BTreeMap<String, Vec<Box<str>>> = [
            ("T".to_string(), vec!["1".into()]),
            ("T_01".to_string(), vec!["2".into()]),
        ]
        .into();
        let mut lists = Lists::new();
        let mut t = Translate {
            node: "ADRG T".into(),
            expr,
            dx_tables: &dx,
            op_tables: adrg.then_some(&op),
            lists: &mut lists,
            problems: Vec::new(),
        };
        let c = t.translate(&mut Vec::new());
        let p = t.problems;
        (c, p, lists)
    }

    #[test]
    fn translations() {
        use Cond::*;
        let table: &[(&str, Cond)] = &[
            ("-1", Const(true)),
            ("0", Const(false)),
            ("is_pd2(case, 'T')", In(Field::MainDx, "zd:T".into())),
            (
                "is_pd2(case, 'T') and is_op2(case, 'T')",
                And(vec![
                    In(Field::MainDx, "zd:T".into()),
                    And(vec![
                        Present(Field::Procs),
                        In(Field::MainProc, "ss:T".into()),
                    ]),
                ]),
            ),
            (
                "is_op2(case, 'T_01')",
                Intersects(Field::Procs, "ss:T_01".into()),
            ),
            (
                "is_pd1(case, 'B00') or is_sd1(case, 'B00')",
                Intersects(Field::Dx, "zd:B00".into()),
            ),
            (
                "is_pd2(case, 'T') and 0 < case.newborn_birth_weight < 1500",
                And(vec![
                    In(Field::MainDx, "zd:T".into()),
                    And(vec![
                        Cmp(CmpOp::Gt, Field::WeightG, 0),
                        Cmp(CmpOp::Lt, Field::WeightG, 1500),
                    ]),
                ]),
            ),
            (
                "(case.gender == 2) and not case.age >= 18",
                And(vec![
                    Cmp(CmpOp::Eq, Field::Sex, 2),
                    Not(Box::new(Cmp(CmpOp::Ge, Field::Age, 18))),
                ]),
            ),
        ];
        for (expr, want) in table {
            let (got, problems, _) = tr(expr, true);
            assert!(problems.is_empty(), "{expr}: {problems:?}");
            assert_eq!(&got, want, "{expr}");
        }
    }

    #[test]
    fn untranslatable_are_reported_and_false() {
        for (expr, why) in [
            ("multi_wound(case)", "trauma-site"),
            ("is_sd2(case, 'T')", "secondary diagnoses only"),
            (
                "is_op2(case, 'T') and case.newborn_age_month == 0",
                "newborn_age_month",
            ),
            ("is_pd2(case, 'NOPE')", "unknown table `NOPE`"),
            ("is_pd2(case, 'T'", "bad arguments"),
            ("(is_pd2(case, 'T')", "expected `)`"),
            ("frobnicate(case, 'T')", "unknown function"),
        ] {
            let (got, problems, _) = tr(expr, true);
            assert_eq!(got, Cond::Const(false), "{expr}");
            assert_eq!(problems.len(), 1, "{expr}");
            assert!(problems[0].why.contains(why), "{expr}: {}", problems[0].why);
            assert_eq!(problems[0].node, "ADRG T");
        }
        let (_, problems, _) = tr("is_op2(case, 'T')", false);
        assert!(problems[0].why.contains("not available for an MDC"));
    }

    #[test]
    fn used_tables_become_node_lists() {
        let (_, _, lists) = tr("is_pd2(case, 'T') and is_op2(case, 'T_01')", true);
        assert_eq!(lists.keys().collect::<Vec<_>>(), ["ss:T_01", "zd:T"]);
    }
}
