//! Semantics and loader errors on a small synthetic scheme (runs without reference data).

use drg::scheme::Location;
use drg::{explain, Case, CodeMapping, Grouper, Reason, Scheme, SchemeFiles, Scratch, Status};

const SCHEME: &str = r#"{"name": "mini", "mdcs": [
 {"code": "MDCP", "when": {"and": [{"in": ["main_dx", "zd"]}, {"eq": ["age", 0]}]},
  "lists": {"zd": ["P07.0"]},
  "adrgs": [{"code": "PA1", "when": {"and": [{"present": "weight_g"}, {"lt": ["weight_g", 1500]}]},
             "lists": {}, "drgs": [{"code": "PA19", "name": "极低出生体重", "rule": "always"}]}]},
 {"code": "MDCZ", "when": {"distinct_trauma_sites_ge": 2}, "lists": {},
  "trauma_sites": {"S01": "头", "S02": "头", "S32": "骨盆", "S72": "下肢"},
  "adrgs": [{"code": "ZB1", "when": {"and": [{"present": "procs"}, {"in": ["main_proc", "SS_VALID"]}]},
             "lists": {}, "drgs": [{"code": "ZB19", "name": "多发伤手术", "rule": "always"}]}]},
 {"code": "MDCB", "when": {"in": ["main_dx", "zd"]}, "lists": {"zd": ["I63.9", "S01"]},
  "adrgs": [
   {"code": "BB1", "when": {"proc_tag": "1"}, "lists": {}, "proc_tags": {"01.2": "1", "01.3": "2"},
    "drgs": [{"code": "BB19", "name": "开颅", "rule": "always"}]},
   {"code": "BR2", "when": {"or": [{"not": {"ge": ["age", 18]}}, {"intersects": ["dx", "sx"]}]},
    "lists": {"sx": ["G40"]},
    "drgs": [{"code": "BR21", "name": "伴MCC", "rule": "mcc"},
             {"code": "BR23", "name": "伴CC", "rule": "mcc_or_cc"},
             {"code": "BR25", "name": "不伴", "rule": "always"}]}]},
 {"code": "MDCC", "when": true, "lists": {},
  "adrgs": [{"code": "CZ1", "when": {"eq": ["sex", 2]}, "lists": {},
             "drgs": [{"code": "CZ19", "name": "其他", "rule": "always"}]}]}
]}"#;

const CC: &str = "code\texclusion_table\nE87.1\t3\n";
const MCC: &str = "code\texclusion_table\nJ96.0\t1\nR57\t2\n";
const EXCL: &str = "main_dx\texclusion_table\nI63.9\t1\n";
const SURG: &str = "code\tname\n79.3\t复位\n79.3\t复位(重复)\n01.2\t开颅\n";
const NAMES: &str = "drg\tname\nBR21\t脑血管病伴严重并发症\n";

fn files() -> SchemeFiles<'static> {
    SchemeFiles {
        scheme_json: SCHEME,
        cc_tsv: CC,
        mcc_tsv: MCC,
        main_dx_exclusion_tsv: EXCL,
        surgical_procedures_tsv: SURG,
        drg_names_tsv: NAMES,
    }
}

fn grouper() -> Grouper {
    Grouper::new(Scheme::from_files(files()).expect("loads")).expect("compiles")
}

struct Row {
    name: &'static str,
    sex: Option<u8>,
    age: Option<u32>,
    weight_g: Option<u32>,
    dx: &'static [&'static str],
    procs: &'static [&'static str],
    want: &'static str,
    reason: Option<Reason>,
}

#[allow(clippy::too_many_arguments)]
const fn row(
    name: &'static str,
    sex: Option<u8>,
    age: Option<u32>,
    weight_g: Option<u32>,
    dx: &'static [&'static str],
    procs: &'static [&'static str],
    want: &'static str,
    reason: Option<Reason>,
) -> Row {
    Row {
        name,
        sex,
        age,
        weight_g,
        dx,
        procs,
        want,
        reason,
    }
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    row("newborn low weight", Some(1), Some(0), Some(1000), &["P07.0"], &[], "PA19", None),
    row("newborn weight absent falls through to MDCC", Some(2), Some(0), None, &["P07.0"], &[], "CZ19", None),
    row("newborn weight absent, male: no ADRG anywhere", Some(1), Some(0), None, &["P07.0"], &[], "0000", Some(Reason::NoAdrg)),
    row("two trauma sites with OR procedure", Some(1), Some(40), None, &["S01", "S32"], &["79.3"], "ZB19", None),
    row("same site twice is one site", Some(1), Some(10), None, &["S01", "S02"], &["79.3"], "BR25", None),
    row("multi-trauma without procedure falls through", Some(1), Some(10), None, &["S01", "S72"], &[], "BR25", None),
    row("secondary procedure carries tag 1", Some(1), Some(40), None, &["I63.9"], &["01.3", "01.2"], "BB19", None),
    row("tag 2 only", Some(1), Some(40), None, &["I63.9", "G40"], &["01.3"], "BR25", None),
    row("MCC excluded by main dx table", Some(1), Some(40), None, &["I63.9", "G40", "J96.0"], &[], "BR25", None),
    row("MCC not excluded", Some(1), Some(40), None, &["I63.9", "G40", "R57"], &[], "BR21", None),
    row("CC", Some(1), Some(40), None, &["I63.9", "G40", "E87.1"], &[], "BR23", None),
    row("MCC as main dx does not count", Some(1), Some(40), None, &["R57", "I63.9"], &[], "0000", Some(Reason::NoAdrg)),
    row("age absent: ge is false, not(ge) true", Some(1), None, None, &["I63.9"], &[], "BR25", None),
    row("adult without G40: no ADRG in MDCB, MDCC needs sex 2", Some(1), Some(40), None, &["I63.9"], &[], "0000", Some(Reason::NoAdrg)),
    row("sex absent never equals", None, Some(40), None, &["X99"], &[], "0000", Some(Reason::NoAdrg)),
    row("unknown codes still group by other fields", Some(2), Some(40), None, &["X99", "Y98"], &["Z00"], "CZ19", None),
    row("whitespace and empty codes are ignored", Some(1), Some(40), None, &[" I63.9 ", "", "  ", "R57", "G40"], &[""], "BR21", None),
    row("no diagnosis", Some(2), Some(40), None, &["", " "], &["79.3"], "0000", Some(Reason::NoDiagnosis)),
];

#[test]
fn semantics_table() {
    let g = grouper();
    let mut scratch = Scratch::default();
    for r in ROWS {
        let case = Case {
            sex: r.sex,
            age: r.age,
            age_days: None,
            weight_g: r.weight_g,
            dx: r.dx,
            procs: r.procs,
            ..Default::default()
        };
        let got = g.group(&case);
        assert_eq!(got, g.group_with(&case, &mut scratch), "{}", r.name);
        assert_eq!(g.codes_of(&got).drg, r.want, "{}", r.name);
        assert_eq!(got.status.reason(), r.reason, "{}", r.name);
        let t = explain(g.scheme(), &case);
        assert_eq!(t.drg, r.want, "explain: {}", r.name);
        assert_eq!(t.status, got.status, "explain: {}", r.name);
    }
}

#[test]
fn names_come_from_drg_names_tsv_then_scheme() {
    let g = grouper();
    let case = Case {
        sex: Some(1),
        age: Some(40),
        dx: &["I63.9", "G40", "R57"],
        ..Case::default()
    };
    assert_eq!(g.codes_of(&g.group(&case)).drg_name, "脑血管病伴严重并发症");
    let case = Case {
        sex: Some(1),
        age: Some(40),
        dx: &["I63.9", "G40"],
        ..Case::default()
    };
    let codes = g.codes_of(&g.group(&case));
    assert_eq!(
        (codes.mdc, codes.adrg, codes.drg, codes.drg_name),
        ("MDCB", "BR2", "BR25", "不伴")
    );
}

#[test]
fn explain_renders_evidence() {
    let g = grouper();
    let case = Case {
        sex: Some(1),
        age: Some(40),
        dx: &["I63.9", "G40", "J96.0", "E87.1"],
        ..Case::default()
    };
    let t = explain(g.scheme(), &case);
    let zh = t.render(drg::Lang::Zh);
    let en = t.render(drg::Lang::En);
    assert!(zh.contains("被主要诊断排除表 1 排除"), "{zh}");
    assert!(zh.contains("结果：MDCB / BR2 / BR23"), "{zh}");
    assert!(
        en.contains("J96.0: MCC (exclusion table 1), excluded by the main diagnosis' table 1"),
        "{en}"
    );
    assert!(en.contains("E87.1: CC (exclusion table 3), counts"), "{en}");
    assert!(en.contains("dx in list sx: G40"), "{en}");
    assert!(
        !en.contains("no ADRG") && en.contains("MDCP: not entered"),
        "{en}"
    );
}

#[test]
fn mapping_before_grouping_reports_unmapped() {
    let g = grouper();
    let map = |c: &str| match c {
        "I63.900" => Some("I63.9"),
        "G40.901" => Some("G40"),
        _ => None,
    };
    let proc_map: std::collections::HashMap<String, String> =
        [("01.2001".to_string(), "01.2".to_string())].into();
    let map_proc = |c: &str| proc_map.get(c).map(String::as_str);
    let mut scratch = Scratch::default();
    let case = Case {
        sex: Some(1),
        age: Some(40),
        dx: &["I63.900", "G40.901", "R57", "Q99"],
        procs: &["01.2"],
        ..Case::default()
    };
    let mapping = CodeMapping {
        dx: Some(&map),
        procs: None,
    };
    let got = g.group_mapped(&case, &mapping, &mut scratch);
    // Procedures are not mapped: 01.2 carries tag 1, BB1 holds.
    assert_eq!(g.codes_of(&got).drg, "BB19");
    assert_eq!(scratch.unmapped_dx(), &[2, 3]);
    assert_eq!(scratch.unmapped_procs(), &[] as &[u32]);
    // With a procedure map, `01.2` is unmapped (kept as is), `01.2001` maps to `01.2`.
    let mapping = CodeMapping {
        dx: Some(&map),
        procs: Some(&map_proc),
    };
    let case = Case {
        procs: &["01.2", "01.2001"],
        ..case
    };
    let got = g.group_mapped(&case, &mapping, &mut scratch);
    assert_eq!(g.codes_of(&got).drg, "BB19");
    assert_eq!(scratch.unmapped_procs(), &[0]);
    let case = Case {
        procs: &["79.3"],
        ..case
    };
    let got = g.group_mapped(&case, &mapping, &mut scratch);
    assert_eq!(g.codes_of(&got).drg, "BR21", "G40 mapped, R57 an MCC");
    // Without a mapping the clinical codes are unknown.
    assert_eq!(g.group(&case).status, Status::Ungroupable(Reason::NoAdrg));
}

fn load_err(f: impl FnOnce(&mut SchemeFiles<'static>)) -> drg::SchemeError {
    let mut files = files();
    f(&mut files);
    Scheme::from_files(files).expect_err("must fail")
}

#[test]
fn loader_errors_are_located() {
    let cases: Vec<(&str, drg::SchemeError, &str, Location, &str)> = vec![
        (
            "json syntax",
            load_err(|f| f.scheme_json = "{\"name\": \"x\",\n \"mdcs\": [}"),
            "scheme.json",
            Location::LineColumn(2, 11),
            "expected value",
        ),
        (
            "unknown list",
            load_err(|f| {
                f.scheme_json = Box::leak(
                    SCHEME
                        .replace(
                            r#"["main_dx", "zd"]}, {"eq""#,
                            r#"["main_dx", "nope"]}, {"eq""#,
                        )
                        .into_boxed_str(),
                )
            }),
            "scheme.json",
            Location::JsonPath("mdcs[0].when.and[0].in[1]".into()),
            "unknown list `nope`",
        ),
        (
            "unknown operator",
            load_err(|f| {
                f.scheme_json = Box::leak(SCHEME.replace("\"lt\"", "\"lte\"").into_boxed_str())
            }),
            "scheme.json",
            Location::JsonPath("mdcs[0].adrgs[0].when.and[1].lte".into()),
            "unknown operator `lte`",
        ),
        (
            "unknown rule",
            load_err(|f| {
                f.scheme_json =
                    Box::leak(SCHEME.replace("\"mcc_or_cc\"", "\"ccc\"").into_boxed_str())
            }),
            "scheme.json",
            Location::JsonPath("mdcs[2].adrgs[1].drgs[1].rule".into()),
            "unknown rule `ccc`",
        ),
        (
            "numeric field in `in`",
            load_err(|f| {
                f.scheme_json = Box::leak(
                    SCHEME
                        .replace(r#"["main_dx", "zd"]}, {"eq""#, r#"["age", "zd"]}, {"eq""#)
                        .into_boxed_str(),
                )
            }),
            "scheme.json",
            Location::JsonPath("mdcs[0].when.and[0].in[0]".into()),
            "field `age` (a number) cannot be used here",
        ),
        (
            "proc_tag outside an ADRG",
            load_err(|f| {
                f.scheme_json = Box::leak(
                    SCHEME
                        .replace(r#""when": true"#, r#""when": {"proc_tag": "1"}"#)
                        .into_boxed_str(),
                )
            }),
            "scheme.json",
            Location::JsonPath("mdcs[3].when.proc_tag".into()),
            "tag `1`",
        ),
        (
            "duplicate cc",
            load_err(|f| f.cc_tsv = "code\texclusion_table\nA\t1\nA\t2\n"),
            "cc.tsv",
            Location::Line(3),
            "duplicate code `A`",
        ),
        (
            "bad header",
            load_err(|f| f.mcc_tsv = "code,exclusion_table\nA,1\n"),
            "mcc.tsv",
            Location::Line(1),
            "expected header",
        ),
        (
            "missing column",
            load_err(|f| f.main_dx_exclusion_tsv = "main_dx\texclusion_table\nI63.9\n"),
            "main_dx_exclusion.tsv",
            Location::Line(2),
            "expected 2 columns",
        ),
        (
            "empty table id",
            load_err(|f| f.cc_tsv = "code\texclusion_table\nA\t\n"),
            "cc.tsv",
            Location::Line(2),
            "empty `exclusion_table`",
        ),
        (
            "duplicate drg name",
            load_err(|f| f.drg_names_tsv = "drg\tname\nX\ta\n\nX\tb\n"),
            "drg_names.tsv",
            Location::Line(4),
            "duplicate DRG `X`",
        ),
    ];
    for (name, err, file, loc, what) in cases {
        assert_eq!(err.file, file, "{name}: {err}");
        assert_eq!(err.location, loc, "{name}: {err}");
        assert!(err.what.contains(what), "{name}: {err}");
    }
}

#[test]
fn diff_reports_changes() {
    let from = Scheme::from_files(files()).expect("loads");
    assert!(drg::diff::diff(&from, &from).is_empty());
    let json = SCHEME
        .replace(r#""name": "伴CC""#, r#""name": "伴并发症""#)
        .replace(r#""lists": {"sx": ["G40"]}"#, r#""lists": {"sx": ["G41"]}"#)
        .replace(r#"{"code": "BR25", "name": "不伴", "rule": "always"}"#, r#"{"code": "BR25", "name": "不伴", "rule": "always"}, {"code": "BR29", "name": "新", "rule": "always"}"#);
    let to = Scheme::from_files(SchemeFiles {
        scheme_json: &json,
        cc_tsv: "code\texclusion_table\nE87.1\t3\nR57\t2\n",
        mcc_tsv: "code\texclusion_table\nJ96.0\t9\n",
        ..files()
    })
    .expect("loads");
    let d = drg::diff::diff(&from, &to);
    assert_eq!(d.drgs_added, vec![("BR29".to_string(), "新".to_string())]);
    assert!(d.drgs_removed.is_empty());
    assert_eq!(d.drgs_renamed.len(), 1);
    assert_eq!(d.drgs_renamed[0].code, "BR23");
    assert_eq!(d.adrg_conditions_changed, vec!["BR2".to_string()]);
    let moved: Vec<(&str, &[String], &[String])> = d
        .codes_moved
        .iter()
        .map(|m| (m.code.as_str(), &m.from[..], &m.to[..]))
        .collect();
    assert_eq!(
        moved,
        vec![
            ("G40", &["BR2".to_string()][..], &[][..]),
            ("G41", &[][..], &["BR2".to_string()][..])
        ]
    );
    use drg::diff::Complication as C;
    let cc: Vec<(&str, &C, &C)> = d
        .complications_changed
        .iter()
        .map(|c| (c.code.as_str(), &c.from, &c.to))
        .collect();
    assert_eq!(
        cc,
        vec![
            ("J96.0", &C::Mcc("1".into()), &C::Mcc("9".into())),
            ("R57", &C::Mcc("2".into()), &C::Cc("2".into()))
        ]
    );
    let text = d.render(10);
    assert!(text.contains("DRGs added: 1\n  BR29 新"), "{text}");
}
