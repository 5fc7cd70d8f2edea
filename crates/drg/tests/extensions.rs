//! The constructs beyond CHS-DRG 1.1 (E0–E6 of `shared/reference/README.md`) on small
//! schemes, one table row per behaviour; strict loading with the offending key's path;
//! and a mutation test over every reference scheme.

mod common;

use drg::{explain, Case, Grouper, Lang, Scheme, SchemeFiles, Status};
use serde_json::{json, Value};

const CC: &str = "code\texclusion_table\nK91.826\t104\n";
const MCC: &str = "code\texclusion_table\nJ96.000\t7\n";

fn scheme(doc: &Value) -> Result<Scheme, drg::SchemeError> {
    let text = doc.to_string();
    Scheme::from_files(SchemeFiles {
        scheme_json: &text,
        cc_tsv: CC,
        mcc_tsv: MCC,
        main_dx_exclusion_tsv: "main_dx\texclusion_table\n",
        surgical_procedures_tsv: "code\tname\n36.0600\t冠状动脉支架置入\n",
        drg_names_tsv: "drg\tname\nBQY\tB_歧义组\n",
    })
}

/// One MDC (main diagnosis I63.900 or I21.000) with the given ADRGs, after an MDC that
/// takes nothing.
fn doc(adrgs: Value, retry: bool) -> Value {
    let mut d = json!({"name": "t", "mdcs": [
        {"code": "MDCA", "when": false, "adrgs": []},
        {"code": "MDCB", "when": {"in": ["main_dx", "zd"]}, "lists": {"zd": ["I63.900", "I21.000"]}, "adrgs": adrgs}
    ]});
    if retry {
        d["retry_ungroupable_with_each_secondary_proc"] = json!(true);
    }
    d
}

struct Row {
    name: &'static str,
    adrgs: Value,
    retry: bool,
    case: Case<'static>,
    /// mdc, adrg, drg, status label
    want: [&'static str; 4],
    /// Text the Chinese trace must contain.
    zh: &'static str,
}

fn rows() -> Vec<Row> {
    let base = Case { sex: Some(1), age: Some(70), dx: &["I63.900"], ..Case::default() };
    vec![
        Row {
            name: "E2 DRG condition on los holds",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR17", "rule": "always", "when": {"lt": ["los", 5]}},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { los: Some(3), ..base },
            want: ["MDCB", "BR1", "BR17", "分组成功"],
            zh: "住院天数 = 3 < 5",
        },
        Row {
            name: "E2 DRG condition on los fails, the next DRG takes it",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR17", "rule": "always", "when": {"lt": ["los", 5]}},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { los: Some(9), ..base },
            want: ["MDCB", "BR1", "BR15", "分组成功"],
            zh: "本组附加条件不满足",
        },
        Row {
            name: "E2 absent number compares false",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR17", "rule": "always", "when": {"lt": ["los", 5]}},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: base,
            want: ["MDCB", "BR1", "BR15", "分组成功"],
            zh: "住院天数缺失",
        },
        Row {
            name: "E2 discharge way in the DRG's own list",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR17", "rule": "always", "when": {"in": ["discharge_way", "dead"]}, "lists": {"dead": ["2", "5"]}},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { discharge_way: Some("5"), ..base },
            want: ["MDCB", "BR1", "BR17", "分组成功"],
            zh: "离院方式 5 属于列表 dead",
        },
        Row {
            name: "E2 department not in list",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR17", "rule": "always", "when": {"in": ["dept", "neuro"]}, "lists": {"neuro": ["A03"]}},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { dept: Some("A04"), ..base },
            want: ["MDCB", "BR1", "BR15", "分组成功"],
            zh: "出院科别 A04 不属于列表 neuro",
        },
        Row {
            name: "E2 ICU hours, fractional",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR19", "rule": "always", "when": {"gt": ["icu_hours", 96]}},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { icu_hours: Some(96.5), ..base },
            want: ["MDCB", "BR1", "BR19", "分组成功"],
            zh: "重症监护时长(小时) = 96.5 > 96",
        },
        Row {
            name: "E2 rule must hold too: mcc rule with a holding condition",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR11", "rule": "mcc", "when": {"lt": ["los", 5]}},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { los: Some(2), ..base },
            want: ["MDCB", "BR1", "BR15", "分组成功"],
            zh: "✗ BR11",
        },
        Row {
            name: "E1 secondary_dx intersects, E6 cc rule",
            adrgs: json!([{"code": "BR1", "when": {"intersects": ["secondary_dx", "sec"]}, "lists": {"sec": ["K91.826"]}, "drgs": [
                {"code": "BR11", "rule": "mcc"},
                {"code": "BR13", "rule": "cc"},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { dx: &["I63.900", "K91.826"], ..base },
            want: ["MDCB", "BR1", "BR13", "分组成功"],
            zh: "其他诊断与列表 sec 相交：K91.826",
        },
        Row {
            name: "E1 the main diagnosis is not a secondary one",
            adrgs: json!([{"code": "BR1", "when": {"intersects": ["secondary_dx", "sec"]}, "lists": {"sec": ["I63.900"]}, "drgs": [
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: base,
            want: ["0000", "00", "0000", "无法入组"],
            zh: "其他诊断均不在列表 sec",
        },
        Row {
            name: "E6 an MCC does not count for cc",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR13", "rule": "cc"},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { dx: &["I63.900", "J96.000"], ..base },
            want: ["MDCB", "BR1", "BR15", "分组成功"],
            zh: "MCC（排除表 7），有效",
        },
        Row {
            name: "E6 never",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR10", "rule": "never"},
                {"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: base,
            want: ["MDCB", "BR1", "BR15", "分组成功"],
            zh: "从不入组",
        },
        Row {
            name: "E0 no DRG holds: the ADRG's own code",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": [
                {"code": "BR11", "rule": "mcc"}]}]),
            retry: false,
            case: base,
            want: ["MDCB", "BR1", "BR1", "分组成功"],
            zh: "以ADRG编码 BR1 作为DRG",
        },
        Row {
            name: "E0 with no DRGs at all",
            adrgs: json!([{"code": "BR1", "when": true, "drgs": []}]),
            retry: false,
            case: base,
            want: ["MDCB", "BR1", "BR1", "分组成功"],
            zh: "以ADRG编码 BR1 作为DRG",
        },
        Row {
            name: "E4 falls through to the next ADRG",
            adrgs: json!([
                {"code": "BR1", "when": true, "no_drg_falls_through": true, "drgs": [{"code": "BR11", "rule": "mcc"}]},
                {"code": "BX1", "when": true, "drgs": [{"code": "BX15", "rule": "always"}]}]),
            retry: false,
            case: base,
            want: ["MDCB", "BX1", "BX15", "分组成功"],
            zh: "继续下一个ADRG",
        },
        Row {
            name: "E4 falls through every ADRG: ungroupable",
            adrgs: json!([
                {"code": "BR1", "when": true, "no_drg_falls_through": true, "drgs": [{"code": "BR11", "rule": "mcc"}]}]),
            retry: false,
            case: base,
            want: ["0000", "00", "0000", "无法入组"],
            zh: "进入MDC但未进入任何ADRG",
        },
        Row {
            name: "E3 ambiguous entry",
            adrgs: json!([
                {"code": "BQY", "when": {"present": "procs"}, "ambiguous": true, "drgs": []},
                {"code": "BR1", "when": true, "drgs": [{"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { procs: &["36.0600"], ..base },
            want: ["MDCB", "QY", "BQY", "歧义病案"],
            zh: "歧义病案",
        },
        Row {
            name: "E5 retry with the second procedure alone",
            adrgs: json!([
                {"code": "BB1", "when": {"in": ["main_proc", "stent"]}, "lists": {"stent": ["36.0600"]}, "drgs": [{"code": "BB15", "rule": "always"}]}]),
            retry: true,
            case: Case { procs: &["99.9999", "88.8888", "36.0600"], ..base },
            want: ["MDCB", "BB1", "BB15", "分组成功"],
            zh: "重新分组所用手术操作：第3个 36.0600",
        },
        Row {
            name: "E5 without the flag: ungroupable",
            adrgs: json!([
                {"code": "BB1", "when": {"in": ["main_proc", "stent"]}, "lists": {"stent": ["36.0600"]}, "drgs": [{"code": "BB15", "rule": "always"}]}]),
            retry: false,
            case: Case { procs: &["99.9999", "36.0600"], ..base },
            want: ["0000", "00", "0000", "无法入组"],
            zh: "无法入组",
        },
        Row {
            name: "E1 secondary_procs present",
            adrgs: json!([
                {"code": "BB1", "when": {"present": "secondary_procs"}, "drgs": [{"code": "BB15", "rule": "always"}]},
                {"code": "BR1", "when": true, "drgs": [{"code": "BR15", "rule": "always"}]}]),
            retry: false,
            case: Case { procs: &["36.0600"], ..base },
            want: ["MDCB", "BR1", "BR15", "分组成功"],
            zh: "其他手术操作存在：否",
        },
        Row {
            name: "repeated codes: the entry that matched names the result",
            adrgs: json!([
                {"code": "BR1", "when": {"gt": ["age", 80]}, "drgs": [{"code": "BR15", "rule": "always"}]},
                {"code": "BR1", "when": true, "drgs": [{"code": "BR15", "rule": "mcc"}, {"code": "BR15", "rule": "always", "when": {"eq": ["sex", 1]}}]}]),
            retry: false,
            case: base,
            want: ["MDCB", "BR1", "BR15", "分组成功"],
            zh: "性别 = 1 == 1",
        },
    ]
}

#[test]
fn every_construct_groups_and_explains() {
    let mut failures = Vec::new();
    for r in rows() {
        let s = scheme(&doc(r.adrgs.clone(), r.retry)).unwrap_or_else(|e| panic!("{}: {e}", r.name));
        // The written form loads back to the same scheme.
        let again = Scheme::from_files(s.to_files().as_files()).unwrap_or_else(|e| panic!("{}: {e}", r.name));
        assert_eq!(again.mdcs, s.mdcs, "{}", r.name);
        assert_eq!(again.retry_with_each_secondary_proc, s.retry_with_each_secondary_proc);
        let g = Grouper::new(s).expect("compiles");
        let fast = g.group(&r.case);
        let codes = g.codes_of(&fast);
        let got = [codes.mdc, codes.adrg, codes.drg, fast.status.label()];
        let trace = explain(g.scheme(), &r.case);
        let zh = trace.render(Lang::Zh);
        let en = trace.render(Lang::En);
        if got != r.want {
            failures.push(format!("{}: got {got:?}, want {:?}", r.name, r.want));
        }
        if [trace.mdc.as_str(), trace.adrg.as_str(), trace.drg.as_str()] != got[..3] || trace.status != fast.status {
            failures.push(format!("{}: trace {:?} disagrees with fast path {got:?}", r.name, trace.drg));
        }
        if trace.retry_proc.as_ref().map(|x| x.0 as u16) != fast.retry_proc {
            failures.push(format!("{}: retry {:?} vs {:?}", r.name, trace.retry_proc, fast.retry_proc));
        }
        if !zh.contains(r.zh) {
            failures.push(format!("{}: the trace does not say `{}`:\n{zh}", r.name, r.zh));
        }
        assert!(en.starts_with('✗') || en.starts_with('✓'), "{en}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_ambiguous_case_is_not_grouped_for_payment() {
    let s = scheme(&doc(json!([{"code": "BQY", "when": true, "ambiguous": true, "drgs": []}]), false)).unwrap();
    let g = Grouper::new(s).unwrap();
    let r = g.group(&Case { dx: &["I63.900"], ..Case::default() });
    assert_eq!(r.status, Status::Ambiguous);
    assert!(!r.status.is_grouped());
    assert_eq!(r.status.reason(), None);
    assert_eq!(g.codes_of(&r).drg_name, "B_歧义组");
}

/// (what is wrong, the scheme.json, the path the error must name, words it must say)
#[test]
fn strict_loading_names_the_path() {
    let ok_adrg = json!({"code": "BR1", "when": true, "drgs": [{"code": "BR15", "rule": "always"}]});
    let with_drg = |d: Value| doc(json!([{"code": "BR1", "when": true, "drgs": [d]}]), false);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("unknown field in a DRG condition", with_drg(json!({"code": "BR15", "rule": "always", "when": {"gt": ["icu_hourz", 24]}})),
            "mdcs[1].adrgs[0].drgs[0].when.gt[0]", "unknown field `icu_hourz`"),
        ("misspelt DRG key", with_drg(json!({"code": "BR15", "rule": "always", "whne": true})),
            "mdcs[1].adrgs[0].drgs[0].whne", "unknown key `whne`"),
        ("unknown rule", with_drg(json!({"code": "BR15", "rule": "mcc_and_cc"})),
            "mdcs[1].adrgs[0].drgs[0].rule", "unknown rule `mcc_and_cc`"),
        ("unknown ADRG flag", doc(json!([{"code": "BR1", "when": true, "no_drgs_fall_through": true, "drgs": []}]), false),
            "mdcs[1].adrgs[0].no_drgs_fall_through", "unknown key"),
        ("flag not a boolean", doc(json!([{"code": "BR1", "when": true, "ambiguous": "yes", "drgs": []}]), false),
            "mdcs[1].adrgs[0].ambiguous", "true or false"),
        ("unknown scheme flag", {
            let mut d = doc(json!([ok_adrg.clone()]), false);
            d["retry_ungroupable_with_each_secondary_procs"] = json!(true);
            d
        }, "retry_ungroupable_with_each_secondary_procs", "unknown key"),
        ("unknown MDC key", {
            let mut d = doc(json!([ok_adrg.clone()]), false);
            d["mdcs"][1]["trauma"] = json!({});
            d
        }, "mdcs[1].trauma", "unknown key `trauma`"),
        ("DRG condition uses the ADRG's list", doc(json!([{"code": "BR1", "when": true, "lists": {"a": ["X"]}, "drgs": [
            {"code": "BR15", "rule": "always", "when": {"in": ["main_dx", "a"]}}]}]), false),
            "mdcs[1].adrgs[0].drgs[0].when.in[1]", "unknown list `a`"),
        ("unknown operator", with_drg(json!({"code": "BR15", "rule": "always", "when": {"between": ["los", 1]}})),
            "mdcs[1].adrgs[0].drgs[0].when.between", "unknown operator"),
        ("a list field where a code field is needed", with_drg(json!({"code": "BR15", "rule": "always", "when": {"in": ["secondary_dx", "SS_VALID"]}})),
            "mdcs[1].adrgs[0].drgs[0].when.in[0]", "cannot be used here"),
        ("fractional number", with_drg(json!({"code": "BR15", "rule": "always", "when": {"gt": ["icu_hours", 24.5]}})),
            "mdcs[1].adrgs[0].drgs[0].when.gt[1]", "integer"),
        ("ambiguous entry with DRGs", doc(json!([{"code": "BQY", "when": true, "ambiguous": true, "drgs": [{"code": "BQY1", "rule": "always"}]}]), false),
            "mdcs[1].adrgs[0].drgs", "no DRGs"),
        ("proc tag unknown to the ADRG", with_drg(json!({"code": "BR15", "rule": "always", "when": {"proc_tag": "x"}})),
            "mdcs[1].adrgs[0].drgs[0].when.proc_tag", "tag `x`"),
    ];
    let mut failures = Vec::new();
    for (what, d, path, words) in cases {
        match scheme(&d) {
            Ok(_) => failures.push(format!("{what}: loaded")),
            Err(e) => {
                let text = e.to_string();
                let at = format!("scheme.json at {path}");
                if !text.starts_with(&format!("{at}:")) && !text.starts_with(&format!("{at} ")) || !text.contains(words) {
                    failures.push(format!("{what}: `{text}` does not name `{path}` with `{words}`"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every object node of a scheme.json that the loader reads keys of: root, MDCs, ADRGs, DRGs.
fn object_paths(doc: &Value) -> Vec<(String, Vec<PathStep>)> {
    let mut out = vec![(String::new(), Vec::new())];
    for (i, m) in doc["mdcs"].as_array().into_iter().flatten().enumerate() {
        out.push((format!("mdcs[{i}]"), vec![PathStep::Key("mdcs"), PathStep::Index(i)]));
        for (j, a) in m["adrgs"].as_array().into_iter().flatten().enumerate() {
            let ap = vec![PathStep::Key("mdcs"), PathStep::Index(i), PathStep::Key("adrgs"), PathStep::Index(j)];
            out.push((format!("mdcs[{i}].adrgs[{j}]"), ap.clone()));
            for k in 0..a["drgs"].as_array().map_or(0, Vec::len) {
                let mut dp = ap.clone();
                dp.extend([PathStep::Key("drgs"), PathStep::Index(k)]);
                out.push((format!("mdcs[{i}].adrgs[{j}].drgs[{k}]"), dp));
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum PathStep {
    Key(&'static str),
    Index(usize),
}

fn at<'v>(v: &'v mut Value, path: &[PathStep]) -> &'v mut Value {
    path.iter().fold(v, |v, s| match s {
        PathStep::Key(k) => &mut v[*k],
        PathStep::Index(i) => &mut v[*i],
    })
}

/// Acceptance: mutate each reference scheme (a misspelt key, an unknown rule, an unknown
/// field, an unknown flag, spread over its nodes) and the load fails with the key's path.
#[test]
fn every_reference_scheme_refuses_each_mutation_with_its_path() {
    let Some(reference) = common::reference_dir() else {
        return;
    };
    let mut dirs = common::scheme_dirs(&reference);
    dirs.push(reference.join("chs-drg-1.1"));
    let mut failures = Vec::new();
    let mut tried = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let texts = common::scheme_texts(dir);
        let original: Value = serde_json::from_str(&texts[0]).expect("json");
        let nodes = object_paths(&original);
        let drg_nodes: Vec<&(String, Vec<PathStep>)> = nodes.iter().filter(|(p, _)| p.contains(".drgs[")).collect();
        let adrg_nodes: Vec<&(String, Vec<PathStep>)> = nodes.iter().filter(|(p, _)| p.ends_with(']') && p.contains(".adrgs[") && !p.contains(".drgs[")).collect();
        // Spread the mutations over the scheme: every 151st node, 199th DRG, 97th ADRG.
        let mut mutations: Vec<(Value, String, &str)> = Vec::new();
        for (n, (path, steps)) in nodes.iter().enumerate().step_by(151) {
            let mut d = original.clone();
            // A misspelt key: the first key of the node with its last letter doubled.
            let key = at(&mut d, steps).as_object().and_then(|o| o.keys().next().cloned()).unwrap_or_default();
            let bad = format!("{key}{}", key.chars().last().unwrap_or('x'));
            let obj = at(&mut d, steps).as_object_mut().expect("object");
            let v = obj.remove(&key).unwrap_or(Value::Null);
            obj.insert(bad.clone(), v);
            let p = if path.is_empty() { bad.clone() } else { format!("{path}.{bad}") };
            let _ = n;
            mutations.push((d, p, "unknown key"));
        }
        for (path, steps) in drg_nodes.iter().step_by(199) {
            let mut d = original.clone();
            at(&mut d, steps)["rule"] = json!("mcc_or_ccc");
            mutations.push((d, format!("{path}.rule"), "unknown rule"));
            let mut d = original.clone();
            at(&mut d, steps)["when"] = json!({"and": [true, {"ge": ["icu_hourz", 24]}]});
            mutations.push((d, format!("{path}.when.and[1].ge[0]"), "unknown field `icu_hourz`"));
        }
        for (path, steps) in adrg_nodes.iter().step_by(97) {
            let mut d = original.clone();
            at(&mut d, steps)["no_drg_fall_through"] = json!(true);
            mutations.push((d, format!("{path}.no_drg_fall_through"), "unknown key"));
        }
        let mut d = original.clone();
        d["retry_ungroupable_with_each_secondary_procedure"] = json!(true);
        mutations.push((d, "retry_ungroupable_with_each_secondary_procedure".into(), "unknown key"));
        for (d, path, words) in mutations {
            tried += 1;
            let mut t = texts.clone();
            t[0] = d.to_string();
            match common::from_texts(&t) {
                Ok(_) => failures.push(format!("{name}: {path}: loaded")),
                Err(e) => {
                    let text = e.to_string();
                    let want = format!("scheme.json at {path}:");
                    if !(text.starts_with(&want) || text.starts_with(&format!("scheme.json at {path} "))) || !text.contains(words) {
                        failures.push(format!("{name}: want `{want} … {words}`, got `{text}`"));
                    }
                }
            }
        }
    }
    eprintln!("{tried} mutations over {} schemes", dirs.len());
    assert!(tried >= 10 * dirs.len(), "{tried}");
    assert!(failures.is_empty(), "{} of {tried}:\n{}", failures.len(), failures[..failures.len().min(20)].join("\n"));
}
