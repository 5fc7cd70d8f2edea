//! The worked example of docs/SETTLEMENT.md: three hospitals, twelve cases. The
//! figures computed by hand in the document are asserted here, and the tables the
//! document shows must be exactly the tables the code produces.

use std::collections::BTreeMap;

use claims::Fen;
use rust_decimal::Decimal;
use settle::statement::{self, Table};
use settle::{
    build_budget, settle, CaseRow, HistoryRow, HospitalInputs, Insurance, Key, Ledger, Method, Pts,
    SettleParams, SubCategory,
};

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn y(s: &str) -> Fen {
    Fen::parse_yuan(s).unwrap()
}

/// (hospital, month, method, points, total cost, fund paid)
const CASES: [(&str, u8, Method, &str, &str, &str); 12] = [
    ("H1", 1, Method::Drg, "120", "12000.00", "8400.00"),
    ("H2", 2, Method::Drg, "80", "9000.00", "6300.00"),
    ("H3", 3, Method::Drg, "50", "6500.00", "3900.00"),
    ("H1", 4, Method::Drg, "130", "13000.00", "9100.00"),
    ("H2", 5, Method::PerDiem, "90", "10000.00", "7000.00"),
    ("H3", 6, Method::Drg, "40", "6000.00", "3600.00"),
    ("H1", 7, Method::Drg, "110", "10000.00", "7000.00"),
    ("H2", 8, Method::Drg, "100", "11000.00", "7700.00"),
    ("H3", 9, Method::FeeForService, "60", "7000.00", "4200.00"),
    ("H1", 10, Method::Drg, "140", "11000.00", "7700.00"),
    ("H2", 11, Method::Drg, "70", "10000.00", "7000.00"),
    ("H3", 12, Method::Drg, "50", "6500.00", "3900.00"),
];

fn example() -> (SettleParams, settle::Budget, settle::Settlement, Ledger) {
    let mut p = SettleParams::builtin();
    p.prepayment_fund.eligible = vec!["H1".into(), "H2".into()];
    let key = Key::new(Insurance::Employee, SubCategory::Inpatient, "");
    let hist = [
        ("H1", "60000.00", "42000.00"),
        ("H2", "40000.00", "28000.00"),
        ("H3", "20000.00", "12000.00"),
    ]
    .map(|(i, t, f)| HistoryRow {
        institution_id: i.into(),
        class: String::new(),
        insurance: Insurance::Employee,
        category: SubCategory::Inpatient,
        total_cost: y(t),
        fund_paid: y(f),
    });
    let budget = build_budget(&p.budget, 2025, &hist).expect("budget");
    let mut ledger = Ledger::new();
    for (h, m, method, pts, total, fund) in CASES {
        ledger.add_case(&CaseRow {
            institution_id: h,
            key: key.clone(),
            month: m,
            group: "",
            method,
            points: Pts::from_decimal(d(pts)).unwrap(),
            total_cost: y(total),
            fund_paid: y(fund),
        });
    }
    let inputs = HospitalInputs {
        scores: [("H1", "95"), ("H2", "75"), ("H3", "50")]
            .into_iter()
            .map(|(h, s)| (h.to_owned(), d(s)))
            .collect(),
        fund_shares: BTreeMap::from([(
            "H1".to_owned(),
            vec![
                ("统筹基金".to_owned(), d("0.90")),
                ("大病保险".to_owned(), d("0.06")),
                ("医疗救助".to_owned(), d("0.04")),
            ],
        )]),
    };
    let s = settle(&p, &budget, &ledger, &inputs).expect("settles");
    (p, budget, s, ledger)
}

fn markdown(t: &Table, cols: &[&str]) -> String {
    let idx: Vec<usize> = cols
        .iter()
        .map(|c| {
            t.columns
                .iter()
                .position(|x| x.0 == *c)
                .unwrap_or_else(|| panic!("{c}"))
        })
        .collect();
    let csv = t.to_csv();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let mut s = String::new();
    s.push_str(&format!("| {} |\n", cols.join(" | ")));
    s.push_str(&format!("|{}\n", " ---: |".repeat(cols.len())));
    for r in &rows[1..] {
        let cells: Vec<&str> = idx.iter().map(|i| r[*i]).collect();
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

/// The tables the document shows, generated from the code.
fn doc_tables() -> String {
    let (p, b, s, _) = example();
    let mut out = String::new();
    out.push_str("Monthly prepayments:\n\n");
    out.push_str(&markdown(
        &statement::months_table(&s, p.deposit.rate, None),
        &[
            "institution_id",
            "period",
            "fund_incurred",
            "deposit",
            "prepayment",
        ],
    ));
    out.push_str("\nPoint values:\n\n");
    out.push_str(&markdown(
        &statement::point_values_table(&s),
        &["period", "budget", "points", "point_value", "allocated"],
    ));
    out.push_str("\nQuarterly pre-settlement:\n\n");
    out.push_str(&markdown(
        &statement::quarters_table(&s, None),
        &[
            "institution_id",
            "period",
            "points",
            "amount",
            "individual",
            "fund_settlement",
            "deposit",
            "prepaid",
            "payout",
        ],
    ));
    out.push_str("\nAnnual settlement:\n\n");
    let a = statement::annual_table(&s, None);
    out.push_str(&markdown(
        &a,
        &[
            "institution_id",
            "points",
            "amount",
            "total_cost",
            "individual",
            "fund_settlement",
            "prepaid",
            "quarterly_payouts",
            "annual_adjustment",
        ],
    ));
    out.push('\n');
    out.push_str(&markdown(
        &a,
        &[
            "institution_id",
            "balance",
            "risk_sharing_uncapped",
            "risk_sharing",
            "deposit",
            "score",
            "release_fraction",
            "deposit_withheld",
            "redistributed",
            "final_fund",
        ],
    ));
    out.push_str("\nFund types (§34):\n\n");
    out.push_str(&markdown(
        &a,
        &["institution_id", "final_fund", "fund_types"],
    ));
    out.push_str("\nHospital year:\n\n");
    out.push_str(&markdown(
        &statement::hospitals_table(&s, None),
        &[
            "institution_id",
            "prepaid_months",
            "quarterly_payouts",
            "annual_adjustment",
            "risk_sharing",
            "deposit_withheld",
            "redistributed",
            "prepayment_fund",
            "annual_payout",
            "total_received",
        ],
    ));
    out.push_str("\nBudget identity:\n\n");
    out.push_str(&markdown(&statement::identity_table(&s), &["item", "item_zh", "amount", "note"]));
    out.push_str("\nRegion summary:\n\n");
    out.push_str(&markdown(
        &statement::summary_table(&b, &s),
        &[
            "annual_budget",
            "settled_amount",
            "check",
            "individual",
            "fund_settlement",
            "risk_sharing",
            "deposit_withheld",
            "final_fund",
        ],
    ));
    out
}

#[test]
fn hand_computed_figures() {
    let (_, b, s, _) = example();
    // Budget (doc §"Budget").
    let i = &b.insurance[0];
    assert_eq!(i.last_year, y("120000.00"));
    assert_eq!(i.factor, d("1.035351"));
    assert_eq!(i.grown, y("124242.12"));
    assert_eq!(
        (i.risk_adjustment, i.offsite, i.sporadic),
        (y("2484.84"), y("3727.26"), y("1242.42"))
    );
    assert_eq!(i.net, y("116787.60"));
    assert_eq!(b.lines[0].quarters, [y("29196.90"); 4]);
    assert_eq!(b.lines[0].fund_budget, y("79804.86"));
    // Q1: 250 points; H2 gets the leftover fen (remainder .8).
    let q1: Vec<Fen> = s
        .quarters
        .iter()
        .filter(|r| r.period == 1)
        .map(|r| r.amount)
        .collect();
    assert_eq!(q1, vec![y("14014.51"), y("9343.01"), y("5839.38")]);
    let pv = |period: u8| {
        s.point_values
            .iter()
            .find(|p| p.period == period)
            .unwrap()
            .value
            .unwrap()
    };
    assert_eq!(pv(1), d("116.787600"));
    assert_eq!(pv(0), d("112.295769"));
    // H1 Q1: 14014.51 − 3600.00 = 10414.51; paid 7980.00 + deposit 420.00 → payout 2014.51.
    let h1q1 = &s.quarters[0];
    assert_eq!(
        (
            h1q1.fund_settlement,
            h1q1.deposit,
            h1q1.prepaid,
            h1q1.payout
        ),
        (y("10414.51"), y("420.00"), y("7980.00"), y("2014.51"))
    );
    // Year: 1040 points; H1 gets the leftover fen (remainder .46).
    let amounts: Vec<Fen> = s.annual.iter().map(|a| a.year.amount).collect();
    assert_eq!(amounts, vec![y("56147.89"), y("38180.56"), y("22459.15")]);
    let h1 = &s.annual[0];
    assert_eq!(h1.year.fund_settlement, y("42347.89"));
    assert_eq!(h1.annual_adjustment, y("1528.49"));
    assert_eq!(h1.risk_sharing, y("-2266.55"));
    // The bands give H2 1273.61 and H3 1572.14 of overrun sharing (2845.75) ...
    assert_eq!(s.annual[1].risk_sharing_uncapped, y("1273.61"));
    assert_eq!(s.annual[2].risk_sharing_uncapped, y("1572.14"));
    let released: Vec<Fen> = s.annual.iter().map(|a| a.deposit_released).collect();
    assert_eq!(released, vec![y("1610.00"), y("700.00"), y("0.00")]);
    // ... recovered surplus 2266.55 + withheld deposits 1480.00 = 3746.55 go back by
    // points 500/340/200: 1801.23 (remainder .596 takes the fen), 1224.83, 720.49 ...
    let red: Vec<Fen> = s.annual.iter().map(|a| a.redistributed).collect();
    assert_eq!(red, vec![y("1801.23"), y("1224.83"), y("720.49")]);
    // ... and the fund budget caps overrun sharing: line fund budget 79804.86 + the
    // fund's part of the risk reserve round(2484.84 × 82000/120000) = 1697.97 is
    // 81502.83; the fund pays 80587.60 before overrun sharing, so 915.23 is left,
    // below the reserve 2484.84; split 1273.61 : 1572.14 → 409.61, 505.62.
    let acc = &s.accounts[0];
    assert_eq!((acc.overrun_requested, acc.overrun_cap, acc.overrun_paid), (y("2845.75"), y("915.23"), y("915.23")));
    assert_eq!(acc.fund_budget, y("81502.83"));
    assert_eq!(s.annual[1].risk_sharing, y("409.61"));
    assert_eq!(s.annual[2].risk_sharing, y("505.62"));
    assert_eq!(h1.final_fund, y("41882.57"));
    assert_eq!(
        h1.fund_types.iter().map(|f| f.1).collect::<Vec<_>>(),
        vec![y("37694.31"), y("2512.96"), y("1675.30")]
    );
    let pf: Vec<Fen> = s.hospitals.iter().map(|h| h.prepayment_fund).collect();
    assert_eq!(pf, vec![y("3500.00"), y("2333.33"), y("0.00")]);
    assert_eq!(s.hospitals[0].annual_payout, y("-2436.83"));
    // Budget identity: 124242.12 = paid 117702.83 + reserves kept (2484.84 − 915.23
    // + 3727.26 + 1242.42 = 6539.29) + nothing retained or carried over.
    assert_eq!(acc.budget, y("124242.12"));
    assert_eq!(acc.paid, y("117702.83"));
    assert_eq!(acc.reserves_kept, y("6539.29"));
    assert_eq!((acc.retained_surplus, acc.retained_deposits, acc.carried_over), (Fen::ZERO, Fen::ZERO, Fen::ZERO));
    assert!(acc.holds());
    assert_eq!(acc.final_fund, y("81502.83"));
}

#[test]
fn the_document_shows_the_tables_the_code_computes() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/SETTLEMENT.md"
    ))
    .expect("docs/SETTLEMENT.md");
    let want = doc_tables();
    let begin = "<!-- worked-example-tables:begin -->\n";
    let end = "<!-- worked-example-tables:end -->";
    let (Some(b), Some(e)) = (doc.find(begin), doc.find(end)) else {
        panic!("markers missing in docs/SETTLEMENT.md")
    };
    let got = &doc[b + begin.len()..e];
    if got != want && std::env::var_os("DRGDIP_BLESS").is_some() {
        // DRGDIP_BLESS=1: write the tables the code computes into the document.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SETTLEMENT.md");
        let new = format!("{}{want}{}", &doc[..b + begin.len()], &doc[e..]);
        std::fs::write(path, new).expect("writing docs/SETTLEMENT.md");
        return;
    }
    if got != want {
        // Print the block to paste into the document.
        println!("{want}");
    }
    assert!(got == want, "docs/SETTLEMENT.md worked-example tables differ from the code; the current tables are printed above");
}

#[test]
fn xlsx_statement_reads_back_with_the_same_figures() {
    use calamine::{Data, Reader, Xlsx};
    let (p, _, s, _) = example();
    let bytes = statement::hospital_xlsx(&s, p.deposit.rate, "H1").unwrap();
    let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(
        wb.sheet_names(),
        vec!["月度预付", "季度预结", "年终结算", "年度汇总", "暂缓支付病例"]
    );
    let annual = wb.worksheet_range("年终结算").unwrap();
    let header: Vec<String> = annual
        .rows()
        .nth(2)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let row = annual.rows().nth(3).unwrap();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(row[col("institution_id")], Data::String("H1".into()));
    // Amounts are numbers in yuan; compare in fen after rounding the spreadsheet's double.
    let fen = |c: &Data| match c {
        Data::Float(f) => (f * 100.0).round() as i64,
        other => panic!("not a number: {other:?}"),
    };
    assert_eq!(fen(&row[col("amount")]), 5_614_789);
    assert_eq!(fen(&row[col("final_fund")]), 4_188_257);
    assert_eq!(fen(&row[col("risk_sharing")]), -226_655);
    // Same settlement, same bytes.
    assert_eq!(
        statement::hospital_xlsx(&s, p.deposit.rate, "H1").unwrap(),
        statement::hospital_xlsx(&s, p.deposit.rate, "H1").unwrap()
    );
}
