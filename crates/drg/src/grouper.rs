//! The compiled grouper: codes interned to `u32` ids, conditions as a flat node
//! arena, CC/MCC/exclusion tables as id-indexed arrays. Code lists are numbered and
//! stored inverted: each code id has a short sorted slice of the list ids it belongs
//! to, so "code in list" touches one small slice instead of searching a large list.
//!
//! Grouping a case does not allocate (see [`Grouper::group`] for the one exception).

use rustc_hash::FxHashMap;

use crate::case::{count_codes, validate, Case, CaseIds, Limits, Reason, Status};
use crate::scheme::{Cond, DrgRule, Field, Lists, Scheme, SS_VALID};

/// Id of a code known to the scheme. Codes the scheme does not know get [`UNKNOWN_CODE`].
pub type CodeId = u32;

/// The id of every code the scheme does not know: it matches no list.
pub const UNKNOWN_CODE: CodeId = u32::MAX;

/// Largest number of MDCs + ADRGs for which the prefilter is used.
const MAX_UNITS: usize = 2048;

/// Size of the on-stack id buffers of [`Grouper::group`].
const STACK_CODES: usize = 128;

/// Result of grouping one case. Indices refer to the [`Grouper`] that produced it;
/// use [`Grouper::codes_of`] to get codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    /// Index of the MDC (in scheme order); `None` when ungroupable.
    pub mdc: Option<u16>,
    /// Global index of the ADRG; `None` when ungroupable.
    pub adrg: Option<u16>,
    /// Global index of the DRG; `None` when ungroupable or ambiguous.
    pub drg: Option<u16>,
    /// Grouped, ambiguous, or why not.
    pub status: Status,
    /// The retry rule (E5) grouped the case with this procedure alone: its index among the
    /// case's non-empty procedures (1 = the first after the main procedure).
    pub retry_proc: Option<u16>,
}

impl Grouping {
    fn ungroupable(reason: Reason) -> Grouping {
        Grouping {
            mdc: None,
            adrg: None,
            drg: None,
            status: Status::Ungroupable(reason),
            retry_proc: None,
        }
    }
}

/// MDC, ADRG and DRG codes of a [`Grouping`]; ungroupable cases read `0000`, `00`, `0000`
/// and ambiguous cases `<MDC>`, `QY`, `<entry code>` as in the reference grouper's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCodes<'g> {
    /// MDC code or `0000`.
    pub mdc: &'g str,
    /// ADRG code or `00`.
    pub adrg: &'g str,
    /// DRG code or `0000`.
    pub drg: &'g str,
    /// DRG name, empty when ungroupable.
    pub drg_name: &'g str,
}

/// MDC code written for ungroupable cases.
pub const UNGROUPABLE_MDC: &str = "0000";
/// ADRG code written for ungroupable cases.
pub const UNGROUPABLE_ADRG: &str = "00";
/// DRG code written for ungroupable cases.
pub const UNGROUPABLE_DRG: &str = "0000";
/// ADRG code written for ambiguous cases (歧义病案).
pub const AMBIGUOUS_ADRG: &str = "QY";

/// A span of the child arena.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Const(bool),
    And(Span),
    Or(Span),
    Not(u32),
    Present(Field),
    /// Code field in list.
    In(Field, ListId),
    /// Code-list field intersects list.
    Intersects(Field, ListId),
    /// Text field (discharge way, department) in list.
    TextIn(Field, ListId),
    Cmp(crate::scheme::CmpOp, Field, i64),
    /// Trauma sites of the MDC at this index, threshold.
    TraumaGe(u16, u32),
}

#[derive(Debug, Clone, Copy, Default)]
struct Secondary {
    /// Interned MCC exclusion table id, 0 when not an MCC.
    mcc: u32,
    /// Interned CC exclusion table id, 0 when not a CC.
    cc: u32,
    /// Interned main-diagnosis exclusion table id, 0 when none.
    main_excl: u32,
}

#[derive(Debug)]
struct CMdc {
    code: Box<str>,
    when: u32,
    adrgs: std::ops::Range<u16>,
    /// Sorted (code id, site) pairs.
    trauma: Box<[(CodeId, u16)]>,
    n_sites: u16,
}

#[derive(Debug)]
struct CAdrg {
    code: Box<str>,
    when: u32,
    drgs: std::ops::Range<u16>,
    ambiguous: bool,
    /// E4: when no DRG holds, the walk goes on (otherwise the last DRG is unconditional).
    falls_through: bool,
    /// Name of an ambiguous entry (from `drg_names.tsv`).
    name: Box<str>,
}

#[derive(Debug)]
struct CDrg {
    code: Box<str>,
    name: Box<str>,
    rule: DrgRule,
    /// The DRG's own condition (E2); `None` when it has none.
    when: Option<u32>,
}

/// Error compiling a scheme (only when it exceeds the compact form's limits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scheme too large to compile: {0}")]
pub struct CompileError(String);

/// A scheme compiled for fast grouping. Build it once with [`Grouper::new`], then
/// group any number of cases, from any number of threads (`Grouper: Sync`).
#[derive(Debug)]
pub struct Grouper {
    scheme: Scheme,
    limits: Limits,
    /// Codes of up to 15 bytes, packed into a `u128` key (no string compare, no pointer chase).
    short_ids: FxHashMap<u128, CodeId>,
    /// Longer codes.
    ids: FxHashMap<Box<str>, CodeId>,
    codes: Vec<Box<str>>,
    secondary: Vec<Secondary>,
    nodes: Vec<Node>,
    kids: Vec<u32>,
    /// `member_ids[member_start[c]..member_start[c + 1]]`: sorted ids of the lists code `c` is in.
    member_start: Vec<u32>,
    member_ids: Vec<ListId>,
    /// Prefilter (see [`Grouper::candidates`]): MDC `i` is unit `i`, ADRG `j` is unit
    /// `mdcs.len() + j`. A unit is guarded when its condition requires `main_dx` or
    /// `main_proc` to be in a list; `guard_units[guard_start[l]..guard_start[l + 1]]` are
    /// the (field, unit) pairs that list `l` guards.
    guard_start: Vec<u32>,
    guard_units: Vec<(Field, u32)>,
    guarded: Vec<bool>,
    /// Whether the prefilter is on (at most [`MAX_UNITS`] units).
    prefilter: bool,
    mdcs: Vec<CMdc>,
    adrgs: Vec<CAdrg>,
    drgs: Vec<CDrg>,
}

struct Builder {
    ids: FxHashMap<Box<str>, CodeId>,
    codes: Vec<Box<str>>,
    tables: FxHashMap<Box<str>, u32>,
    nodes: Vec<Node>,
    kids: Vec<u32>,
    /// Per code id: the lists it is in.
    members: Vec<Vec<ListId>>,
    n_lists: u32,
    ss_valid: ListId,
}

/// Number of a code list.
type ListId = u32;

/// A list id no code belongs to.
const NO_LIST: ListId = u32::MAX;

impl Builder {
    fn intern(&mut self, code: &str) -> CodeId {
        if let Some(&id) = self.ids.get(code) {
            return id;
        }
        let id = self.codes.len() as CodeId;
        self.codes.push(code.into());
        self.members.push(Vec::new());
        self.ids.insert(code.into(), id);
        id
    }

    fn table(&mut self, t: &str) -> u32 {
        let next = self.tables.len() as u32 + 1;
        *self.tables.entry(t.into()).or_insert(next)
    }

    fn list<'a>(&mut self, codes: impl IntoIterator<Item = &'a str>) -> ListId {
        let list = self.n_lists;
        self.n_lists += 1;
        for c in codes {
            let id = self.intern(c);
            let m = &mut self.members[id as usize];
            // List ids grow, so each member slice stays sorted; skip duplicate codes.
            if m.last() != Some(&list) {
                m.push(list);
            }
        }
        list
    }

    fn compile(
        &mut self,
        cond: &Cond,
        lists: &FxHashMap<&str, ListId>,
        tags: &FxHashMap<&str, ListId>,
        mdc: u16,
    ) -> u32 {
        let node = match cond {
            Cond::Const(b) => Node::Const(*b),
            Cond::And(items) | Cond::Or(items) => {
                let ks: Vec<u32> = items
                    .iter()
                    .map(|c| self.compile(c, lists, tags, mdc))
                    .collect();
                let span = Span {
                    start: self.kids.len() as u32,
                    len: ks.len() as u32,
                };
                self.kids.extend_from_slice(&ks);
                if matches!(cond, Cond::And(_)) {
                    Node::And(span)
                } else {
                    Node::Or(span)
                }
            }
            Cond::Not(c) => Node::Not(self.compile(c, lists, tags, mdc)),
            Cond::Present(f) => Node::Present(*f),
            // The loader guarantees that list names and tags resolve.
            Cond::In(f @ (Field::MainDx | Field::MainProc), l) => {
                Node::In(*f, self.resolve(lists, l))
            }
            Cond::In(f, l) => Node::TextIn(*f, self.resolve(lists, l)),
            Cond::Intersects(f, l) => Node::Intersects(*f, self.resolve(lists, l)),
            Cond::Cmp(op, f, n) => Node::Cmp(*op, *f, *n),
            Cond::ProcTag(t) => Node::Intersects(
                Field::Procs,
                tags.get(t.as_str()).copied().unwrap_or(NO_LIST),
            ),
            Cond::DistinctTraumaSitesGe(n) => Node::TraumaGe(mdc, *n),
        };
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    fn resolve(&self, lists: &FxHashMap<&str, ListId>, name: &str) -> ListId {
        if name == SS_VALID {
            self.ss_valid
        } else {
            lists.get(name).copied().unwrap_or(NO_LIST)
        }
    }

    fn lists<'s>(&mut self, lists: &'s Lists) -> FxHashMap<&'s str, ListId> {
        lists
            .iter()
            .map(|(name, codes)| (name.as_str(), self.list(codes.iter().map(|c| &**c))))
            .collect()
    }
}

impl Grouper {
    /// Compiles a scheme with the default [`Limits`].
    pub fn new(scheme: Scheme) -> Result<Grouper, CompileError> {
        Grouper::with_limits(scheme, Limits::default())
    }

    /// Compiles a scheme with the given input limits.
    pub fn with_limits(scheme: Scheme, limits: Limits) -> Result<Grouper, CompileError> {
        let (_, n_adrgs, n_drgs) = scheme.counts();
        // E0 fallbacks add at most one DRG per ADRG.
        let n_drgs = n_drgs + n_adrgs;
        let n_mdcs = scheme.mdcs.len();
        if n_mdcs >= u16::MAX as usize
            || n_adrgs >= u16::MAX as usize
            || n_drgs >= u16::MAX as usize
        {
            return Err(CompileError(format!(
                "{n_mdcs} MDCs, {n_adrgs} ADRGs, {n_drgs} DRGs (at most 65,534 each)"
            )));
        }
        let mut b = Builder {
            ids: FxHashMap::default(),
            codes: Vec::new(),
            tables: FxHashMap::default(),
            nodes: Vec::new(),
            kids: Vec::new(),
            members: Vec::new(),
            n_lists: 0,
            ss_valid: NO_LIST,
        };
        b.ss_valid = b.list(scheme.surgical_procedures.iter().map(|c| &**c));
        let mut sec: FxHashMap<CodeId, Secondary> = FxHashMap::default();
        for (code, t) in &scheme.mcc {
            let (id, t) = (b.intern(code), b.table(t));
            sec.entry(id).or_default().mcc = t;
        }
        for (code, t) in &scheme.cc {
            let (id, t) = (b.intern(code), b.table(t));
            sec.entry(id).or_default().cc = t;
        }
        for (code, t) in &scheme.main_dx_exclusion {
            let (id, t) = (b.intern(code), b.table(t));
            sec.entry(id).or_default().main_excl = t;
        }
        let mut mdcs = Vec::with_capacity(scheme.mdcs.len());
        let mut adrgs = Vec::new();
        let mut drgs = Vec::new();
        for (mi, m) in scheme.mdcs.iter().enumerate() {
            let mut site_ids: FxHashMap<&str, u16> = FxHashMap::default();
            let mut trauma: Vec<(CodeId, u16)> = Vec::with_capacity(m.trauma_sites.len());
            for (code, site) in &m.trauma_sites {
                let next = site_ids.len() as u16;
                let s = *site_ids.entry(site.as_str()).or_insert(next);
                trauma.push((b.intern(code), s));
            }
            trauma.sort_unstable();
            let lists = b.lists(&m.lists);
            let when = b.compile(&m.when, &lists, &FxHashMap::default(), mi as u16);
            let first_adrg = adrgs.len() as u16;
            for a in &m.adrgs {
                let lists = b.lists(&a.lists);
                let mut by_tag: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
                for (code, tag) in &a.proc_tags {
                    by_tag.entry(tag.as_str()).or_default().push(code);
                }
                let tags: FxHashMap<&str, ListId> = by_tag
                    .into_iter()
                    .map(|(t, codes)| (t, b.list(codes)))
                    .collect();
                let when = b.compile(&a.when, &lists, &tags, mi as u16);
                let first_drg = drgs.len() as u16;
                for d in &a.drgs {
                    let when = if d.when == Cond::Const(true) {
                        None
                    } else {
                        let dl = b.lists(&d.lists);
                        Some(b.compile(&d.when, &dl, &tags, mi as u16))
                    };
                    drgs.push(CDrg {
                        code: d.code.as_str().into(),
                        name: scheme.drg_name(d).into(),
                        rule: d.rule,
                        when,
                    });
                }
                if a.needs_fallback() {
                    // E0: no DRG holds, the case gets the ADRG's own code as its DRG.
                    drgs.push(CDrg {
                        code: a.code.as_str().into(),
                        name: scheme
                            .drg_names
                            .get(a.code.as_str())
                            .map_or("", String::as_str)
                            .into(),
                        rule: DrgRule::Always,
                        when: None,
                    });
                }
                adrgs.push(CAdrg {
                    code: a.code.as_str().into(),
                    when,
                    drgs: first_drg..drgs.len() as u16,
                    ambiguous: a.ambiguous,
                    falls_through: a.no_drg_falls_through,
                    name: scheme
                        .drg_names
                        .get(a.code.as_str())
                        .map_or("", String::as_str)
                        .into(),
                });
            }
            mdcs.push(CMdc {
                code: m.code.as_str().into(),
                when,
                adrgs: first_adrg..adrgs.len() as u16,
                trauma: trauma.into_boxed_slice(),
                n_sites: site_ids.len() as u16,
            });
        }
        let mut member_start = Vec::with_capacity(b.members.len() + 1);
        let mut member_ids = Vec::new();
        member_start.push(0);
        for m in &b.members {
            member_ids.extend_from_slice(m);
            member_start.push(member_ids.len() as u32);
        }
        // Guards: a list that a node's condition requires main_dx / main_proc to be in.
        let guard = |n: u32| -> Option<(Field, ListId)> {
            let direct = |n: u32| match b.nodes[n as usize] {
                Node::In(f, l) if l != NO_LIST => Some((f, l)),
                _ => None,
            };
            match b.nodes[n as usize] {
                Node::And(sp) => b.kids[sp.start as usize..(sp.start + sp.len) as usize]
                    .iter()
                    .find_map(|&k| direct(k)),
                _ => direct(n),
            }
        };
        let n_units = mdcs.len() + adrgs.len();
        let mut guarded = vec![false; n_units];
        let mut by_list: Vec<Vec<(Field, u32)>> = vec![Vec::new(); b.n_lists as usize];
        let whens = mdcs
            .iter()
            .map(|m| m.when)
            .chain(adrgs.iter().map(|a| a.when));
        for (unit, when) in whens.enumerate() {
            if let Some((f, l)) = guard(when) {
                guarded[unit] = true;
                by_list[l as usize].push((f, unit as u32));
            }
        }
        let mut guard_start = Vec::with_capacity(by_list.len() + 1);
        let mut guard_units = Vec::new();
        guard_start.push(0);
        for g in &by_list {
            guard_units.extend_from_slice(g);
            guard_start.push(guard_units.len() as u32);
        }
        let mut secondary = vec![Secondary::default(); b.codes.len()];
        for (id, s) in sec {
            secondary[id as usize] = s;
        }
        Ok(Grouper {
            scheme,
            limits,
            short_ids: b
                .ids
                .iter()
                .filter_map(|(c, &id)| pack(c).map(|k| (k, id)))
                .collect(),
            ids: b
                .ids
                .into_iter()
                .filter(|(c, _)| pack(c).is_none())
                .collect(),
            codes: b.codes,
            secondary,
            nodes: b.nodes,
            kids: b.kids,
            member_start,
            member_ids,
            guard_start,
            guard_units,
            guarded,
            prefilter: n_units <= MAX_UNITS,
            mdcs,
            adrgs,
            drgs,
        })
    }

    /// The scheme this grouper was compiled from.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The input limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Number of distinct codes the scheme knows.
    pub fn code_count(&self) -> usize {
        self.codes.len()
    }

    /// The id of a code (surrounding whitespace ignored), `None` when the scheme does not know it.
    #[inline]
    pub fn code_id(&self, code: &str) -> Option<CodeId> {
        let code = code.trim();
        match pack(code) {
            Some(k) => self.short_ids.get(&k).copied(),
            None => self.ids.get(code).copied(),
        }
    }

    /// The code of an id.
    pub fn code(&self, id: CodeId) -> Option<&str> {
        self.codes.get(id as usize).map(|c| &**c)
    }

    /// Appends the ids of the non-empty codes to `out` (unknown codes as [`UNKNOWN_CODE`]).
    pub fn intern_into<'c>(&self, codes: impl IntoIterator<Item = &'c str>, out: &mut Vec<CodeId>) {
        for c in codes {
            let c = c.trim();
            if !c.is_empty() {
                out.push(self.code_id(c).unwrap_or(UNKNOWN_CODE));
            }
        }
    }

    /// Codes of a grouping.
    pub fn codes_of(&self, g: &Grouping) -> GroupCodes<'_> {
        let mdc = g
            .mdc
            .map_or(UNGROUPABLE_MDC, |i| &*self.mdcs[i as usize].code);
        if g.status == Status::Ambiguous {
            if let Some(a) = g.adrg.and_then(|i| self.adrgs.get(i as usize)) {
                return GroupCodes {
                    mdc,
                    adrg: AMBIGUOUS_ADRG,
                    drg: &a.code,
                    drg_name: &a.name,
                };
            }
        }
        GroupCodes {
            mdc,
            adrg: g
                .adrg
                .map_or(UNGROUPABLE_ADRG, |i| &self.adrgs[i as usize].code),
            drg: g
                .drg
                .map_or(UNGROUPABLE_DRG, |i| &self.drgs[i as usize].code),
            drg_name: g.drg.map_or("", |i| &self.drgs[i as usize].name),
        }
    }

    /// Number of DRG entries (with the E0 fallbacks), for [`Grouper::drg_code`].
    pub fn drg_count(&self) -> usize {
        self.drgs.len()
    }

    /// The code of the DRG entry with this global index.
    pub fn drg_code(&self, i: u16) -> Option<&str> {
        self.drgs.get(i as usize).map(|d| &*d.code)
    }

    /// Groups a case given as code strings.
    ///
    /// Does not allocate unless the case has more than 128 diagnoses or procedures and the
    /// limits allow that many; use [`Grouper::group_with`] to reuse buffers in that case.
    pub fn group(&self, case: &Case<'_>) -> Grouping {
        let n_dx = count_codes(case.dx);
        let n_procs = count_codes(case.procs);
        if let Some(r) = validate(
            &self.limits,
            case.age,
            case.age_days,
            case.weight_g,
            n_dx,
            n_procs,
        ) {
            return Grouping::ungroupable(r);
        }
        if n_dx <= STACK_CODES && n_procs <= STACK_CODES {
            let mut dx = [UNKNOWN_CODE; STACK_CODES];
            let mut procs = [UNKNOWN_CODE; STACK_CODES];
            let nd = self.fill(case.dx, &mut dx);
            let np = self.fill(case.procs, &mut procs);
            self.group_ids(&case.with_ids(&dx[..nd], &procs[..np]))
        } else {
            self.group_with(case, &mut Scratch::default())
        }
    }

    fn fill(&self, codes: &[&str], out: &mut [CodeId]) -> usize {
        let mut n = 0;
        for c in codes {
            let c = c.trim();
            if !c.is_empty() {
                out[n] = self.code_id(c).unwrap_or(UNKNOWN_CODE);
                n += 1;
            }
        }
        n
    }

    /// Groups a case given as code strings, reusing the buffers of `scratch`.
    pub fn group_with(&self, case: &Case<'_>, scratch: &mut Scratch) -> Grouping {
        scratch.dx.clear();
        scratch.procs.clear();
        self.intern_into(case.dx.iter().copied(), &mut scratch.dx);
        self.intern_into(case.procs.iter().copied(), &mut scratch.procs);
        self.group_ids(&case.with_ids(&scratch.dx, &scratch.procs))
    }

    /// Groups a case after mapping its codes (e.g. 临床版 → 医保版) with `mapping`.
    /// A code the mapping does not know is kept as it is and its index (in `case.dx` /
    /// `case.procs`) is reported in [`Scratch::unmapped_dx`] / [`Scratch::unmapped_procs`].
    pub fn group_mapped(
        &self,
        case: &Case<'_>,
        mapping: &CodeMapping<'_>,
        scratch: &mut Scratch,
    ) -> Grouping {
        scratch.dx.clear();
        scratch.procs.clear();
        scratch.unmapped_dx.clear();
        scratch.unmapped_procs.clear();
        let lists = [
            (
                case.dx,
                mapping.dx,
                &mut scratch.dx,
                &mut scratch.unmapped_dx,
            ),
            (
                case.procs,
                mapping.procs,
                &mut scratch.procs,
                &mut scratch.unmapped_procs,
            ),
        ];
        for (codes, map, out, unmapped) in lists {
            for (i, c) in codes.iter().enumerate() {
                let c = c.trim();
                if c.is_empty() {
                    continue;
                }
                let mapped = match map {
                    Some(f) => f(c).map(str::trim).filter(|m| !m.is_empty()),
                    None => Some(c),
                };
                let code = mapped.unwrap_or_else(|| {
                    unmapped.push(i as u32);
                    c
                });
                out.push(self.code_id(code).unwrap_or(UNKNOWN_CODE));
            }
        }
        self.group_ids(&case.with_ids(&scratch.dx, &scratch.procs))
    }

    /// Groups a case whose codes are already interned (unknown codes as [`UNKNOWN_CODE`]).
    pub fn group_ids(&self, case: &CaseIds<'_>) -> Grouping {
        if let Some(r) = validate(
            &self.limits,
            case.age,
            case.age_days,
            case.weight_g,
            case.dx.len(),
            case.procs.len(),
        ) {
            return Grouping::ungroupable(r);
        }
        let g = self.walk(case);
        if self.scheme.retry_with_each_secondary_proc
            && matches!(g.status, Status::Ungroupable(_))
            && case.procs.len() >= 2
        {
            // E5: again with each later procedure alone; the first result that is not
            // ungroupable wins.
            for i in 1..case.procs.len() {
                let one = CaseIds {
                    procs: std::slice::from_ref(&case.procs[i]),
                    ..*case
                };
                let r = self.walk(&one);
                if !matches!(r.status, Status::Ungroupable(_)) {
                    return Grouping {
                        retry_proc: Some(i as u16),
                        ..r
                    };
                }
            }
        }
        g
    }

    /// One walk of the scheme (steps 1–4 of the semantics, with E0, E2–E4, E6).
    fn walk(&self, case: &CaseIds<'_>) -> Grouping {
        let marks = self.candidates(case);
        let may = |unit: usize| {
            !self.prefilter || !self.guarded[unit] || marks[unit / 64] >> (unit % 64) & 1 == 1
        };
        let n_mdcs = self.mdcs.len();
        let mut any_mdc = false;
        let mut complications: Option<(bool, bool)> = None;
        for (mi, m) in self.mdcs.iter().enumerate() {
            if !may(mi) || !self.eval(m.when, case) {
                continue;
            }
            any_mdc = true;
            for ai in m.adrgs.clone() {
                let a = &self.adrgs[ai as usize];
                if !may(n_mdcs + ai as usize) || !self.eval(a.when, case) {
                    continue;
                }
                if a.ambiguous {
                    return Grouping {
                        mdc: Some(mi as u16),
                        adrg: Some(ai),
                        drg: None,
                        status: Status::Ambiguous,
                        retry_proc: None,
                    };
                }
                let (mcc, cc) = *complications.get_or_insert_with(|| self.complications(case.dx));
                let drg = a.drgs.clone().find(|&di| {
                    let d = &self.drgs[di as usize];
                    d.rule.holds(mcc, cc) && d.when.is_none_or(|w| self.eval(w, case))
                });
                if let Some(di) = drg {
                    return Grouping {
                        mdc: Some(mi as u16),
                        adrg: Some(ai),
                        drg: Some(di),
                        status: Status::Grouped,
                        retry_proc: None,
                    };
                }
                // Only an ADRG with `no_drg_falls_through` gets here (the others end in an
                // unconditional DRG, written or the E0 fallback): go on with the next ADRG.
                debug_assert!(a.falls_through);
            }
        }
        let reason = if any_mdc {
            Reason::NoAdrg
        } else if case.dx.first().is_none_or(|&d| d == UNKNOWN_CODE) {
            Reason::UnknownMainDiagnosis
        } else {
            Reason::NoMdc
        };
        Grouping::ungroupable(reason)
    }

    /// The lists `code` is in.
    #[inline]
    fn members(&self, code: CodeId) -> &[ListId] {
        let c = code as usize;
        match (self.member_start.get(c), self.member_start.get(c + 1)) {
            (Some(&a), Some(&b)) => &self.member_ids[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Bit set of the guarded units whose guard holds for this case. A guarded unit
    /// outside the set cannot match, so its condition is not evaluated.
    #[inline]
    fn candidates(&self, case: &CaseIds<'_>) -> [u64; MAX_UNITS / 64] {
        let mut marks = [0u64; MAX_UNITS / 64];
        if !self.prefilter {
            return marks;
        }
        for (field, code) in [
            (Field::MainDx, case.dx.first()),
            (Field::MainProc, case.procs.first()),
        ] {
            let Some(&code) = code else { continue };
            for &l in self.members(code) {
                let (a, b) = (
                    self.guard_start[l as usize],
                    self.guard_start[l as usize + 1],
                );
                for &(f, unit) in &self.guard_units[a as usize..b as usize] {
                    if f == field {
                        marks[unit as usize / 64] |= 1 << (unit % 64);
                    }
                }
            }
        }
        marks
    }

    /// Whether some secondary diagnosis is a non-excluded MCC, resp. CC.
    fn complications(&self, dx: &[CodeId]) -> (bool, bool) {
        let Some((&main, rest)) = dx.split_first() else {
            return (false, false);
        };
        let excl = self.secondary.get(main as usize).map_or(0, |s| s.main_excl);
        let (mut mcc, mut cc) = (false, false);
        for &d in rest {
            if let Some(s) = self.secondary.get(d as usize) {
                // A code listed as both MCC and CC counts as MCC (as in `explain`).
                if s.mcc != 0 {
                    mcc |= s.mcc != excl;
                } else if s.cc != 0 {
                    cc |= s.cc != excl;
                }
            }
        }
        (mcc, cc)
    }

    /// Whether the code is in the list (unknown codes are in none).
    #[inline]
    fn in_list(&self, code: CodeId, list: ListId) -> bool {
        let m = self.members(code);
        if m.len() <= 16 {
            m.contains(&list)
        } else {
            m.binary_search(&list).is_ok()
        }
    }

    fn eval(&self, node: u32, c: &CaseIds<'_>) -> bool {
        match self.nodes[node as usize] {
            Node::Const(b) => b,
            Node::And(s) => self.kids[s.start as usize..(s.start + s.len) as usize]
                .iter()
                .all(|&k| self.eval(k, c)),
            Node::Or(s) => self.kids[s.start as usize..(s.start + s.len) as usize]
                .iter()
                .any(|&k| self.eval(k, c)),
            Node::Not(k) => !self.eval(k, c),
            Node::Present(f) => match f {
                Field::Dx | Field::MainDx => !c.dx.is_empty(),
                Field::Procs | Field::MainProc => !c.procs.is_empty(),
                Field::SecondaryDx => c.dx.len() > 1,
                Field::SecondaryProcs => c.procs.len() > 1,
                Field::DischargeWay | Field::Dept => c.text(f).is_some(),
                _ => c.number(f).is_some(),
            },
            Node::In(f, s) => {
                let v = match f {
                    Field::MainDx => c.dx.first(),
                    _ => c.procs.first(),
                };
                v.is_some_and(|&id| self.in_list(id, s))
            }
            Node::TextIn(f, s) => c
                .text(f)
                .and_then(|v| self.code_id(v))
                .is_some_and(|id| self.in_list(id, s)),
            Node::Intersects(f, s) => {
                let codes = match f {
                    Field::Dx => c.dx,
                    Field::Procs => c.procs,
                    Field::SecondaryDx => c.dx.get(1..).unwrap_or(&[]),
                    _ => c.procs.get(1..).unwrap_or(&[]),
                };
                codes.iter().any(|&id| self.in_list(id, s))
            }
            Node::Cmp(op, f, n) => c.number(f).is_some_and(|v| op.apply_f64(v, n as f64)),
            Node::TraumaGe(mi, n) => self.trauma_sites_ge(&self.mdcs[mi as usize], c.dx, n),
        }
    }

    fn trauma_sites_ge(&self, m: &CMdc, dx: &[CodeId], n: u32) -> bool {
        if n == 0 {
            return true;
        }
        let site = |d: &CodeId| {
            m.trauma
                .binary_search_by_key(d, |&(id, _)| id)
                .ok()
                .map(|i| m.trauma[i].1)
        };
        if m.n_sites <= 128 {
            let mut seen = 0u128;
            for s in dx.iter().filter_map(site) {
                seen |= 1 << s;
            }
            seen.count_ones() >= n
        } else {
            // Many sites: count first occurrences without allocating.
            let mut count = 0;
            for (i, d) in dx.iter().enumerate() {
                if let Some(s) = site(d) {
                    if !dx[..i].iter().any(|e| site(e) == Some(s)) {
                        count += 1;
                    }
                }
            }
            count >= n
        }
    }
}

/// Packs a code of at most 15 bytes with its length into a `u128`.
#[inline]
fn pack(code: &str) -> Option<u128> {
    let b = code.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    buf[15] = b.len() as u8;
    Some(u128::from_le_bytes(buf))
}

/// Reusable buffers for [`Grouper::group_with`] and [`Grouper::group_mapped`].
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    dx: Vec<CodeId>,
    procs: Vec<CodeId>,
    unmapped_dx: Vec<u32>,
    unmapped_procs: Vec<u32>,
}

impl Scratch {
    /// Indices (in the case's `dx`) of diagnoses the last [`Grouper::group_mapped`] could not map.
    pub fn unmapped_dx(&self) -> &[u32] {
        &self.unmapped_dx
    }

    /// Indices (in the case's `procs`) of procedures the last [`Grouper::group_mapped`] could not map.
    pub fn unmapped_procs(&self) -> &[u32] {
        &self.unmapped_procs
    }
}

/// A code-mapping function: a source code to its target code, `None` when unmapped.
pub type MapFn<'m> = &'m dyn Fn(&str) -> Option<&'m str>;

/// Code mappings applied before grouping; `None` leaves codes as they are.
#[derive(Clone, Copy, Default)]
pub struct CodeMapping<'m> {
    /// Diagnosis mapping.
    pub dx: Option<MapFn<'m>>,
    /// Procedure mapping.
    pub procs: Option<MapFn<'m>>,
}
