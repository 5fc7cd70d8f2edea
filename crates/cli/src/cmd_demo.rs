//! `drgdip demo`: the main job on embedded data, end to end: a synthetic region,
//! quality control, DRG grouping, weights, points and the
//! 2025 budget and settlement cycle. Every step is the same code
//! as its own subcommand, and the files it writes can be fed to those commands.

use std::path::{Path, PathBuf};

use anyhow::Context;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to write the region and the results.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Number of institutions.
    #[arg(long, default_value_t = 40)]
    pub hospitals: usize,
    /// Number of inpatient cases over the two years.
    #[arg(long, default_value_t = 100_000)]
    pub cases: u64,
    /// Random seed of the synthetic region.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after the files: do not load the service and start it.
    #[arg(long)]
    pub no_serve: bool,
    /// Where the service listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The national reference data: the region is coded for CHS-DRG 2.0 (in force from
    /// 2025-01-01; CHS-DRG 1.1 before) with its code dictionaries. Default:
    /// ../shared/reference when present, else the embedded demo scheme.
    #[arg(long, env = "DRGDIP_REFERENCE")]
    pub reference: Option<PathBuf>,
    /// Use the embedded demo scheme even when the reference data is present.
    #[arg(long)]
    pub builtin_scheme: bool,
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Write the embedded demo scheme and dictionary as directories the other commands read.
fn write_demo_data(out: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    use drg::scheme::file_names::*;
    let scheme = out.join("demo-scheme");
    let codes = out.join("demo-codes");
    std::fs::create_dir_all(&scheme)?;
    std::fs::create_dir_all(&codes)?;
    let f = synth::demo::SCHEME_FILES;
    write(&scheme.join(SCHEME_JSON), f.scheme_json)?;
    write(&scheme.join(CC_TSV), f.cc_tsv)?;
    write(&scheme.join(MCC_TSV), f.mcc_tsv)?;
    write(&scheme.join(MAIN_DX_EXCLUSION_TSV), f.main_dx_exclusion_tsv)?;
    write(&scheme.join(SURGICAL_PROCEDURES_TSV), f.surgical_procedures_tsv)?;
    write(&scheme.join(DRG_NAMES_TSV), f.drg_names_tsv)?;
    write(&codes.join(crate::codes_io::DIAGNOSES), synth::demo::DIAGNOSES_TSV)?;
    write(&codes.join(crate::codes_io::PROCEDURES), synth::demo::PROCEDURES_TSV)?;
    Ok((scheme, codes))
}

fn step(n: &mut u32, zh: &str, en: &str) {
    *n += 1;
    println!("\n== {n}. {zh} ({en}) ==");
}

pub fn run(a: DemoArgs) -> anyhow::Result<()> {
    let out = &a.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let (demo_scheme, demo_codes) = write_demo_data(out)?;
    let region = out.join("region");
    let reference = crate::reference::resolve(a.reference.as_deref(), a.builtin_scheme)?;
    // The scheme in force for 2025 (CHS-DRG 2.0 from the reference data, else the demo
    // scheme), the one in force before (CHS-DRG 1.1), and the code dictionaries.
    let (scheme, previous, codes) = match &reference {
        Some(r) => (
            r.join(server::reference::IN_FORCE[1].1),
            Some(r.join(server::reference::IN_FORCE[0].1)),
            r.join("codes"),
        ),
        None => (demo_scheme.clone(), None, demo_codes.clone()),
    };
    let mut n = 0;
    println!("分组方案 (grouping schemes in force):");
    crate::reference::announce(reference.as_deref());

    step(&mut n, "生成模拟统筹区", "synthetic region");
    crate::cmd_synth::run(crate::cmd_synth::SynthArgs {
        hospitals: a.hospitals,
        cases: a.cases,
        years: vec![2024, 2025],
        seed: a.seed,
        out: region.clone(),
        scheme: reference.as_ref().map(|_| scheme.clone()),
        codes: reference.as_ref().map(|_| codes.clone()),
        anomaly_rate: 0.04,
    })?;
    let y2024 = region.join("claims-2024.csv");
    let y2025 = region.join("claims-2025.csv");

    step(&mut n, "结算清单质控", "settlement-list quality control, 2025");
    crate::cmd_qc::run(crate::cmd_qc::QcArgs {
        files: vec![y2025.clone()],
        codes: Some(codes.clone()),
        rules: None,
        out: out.join("qc"),
        format: crate::cmd_qc::FindingsFormat::Csv,
        encoding: None,
        lang: crate::Lang::Zh,
    })?;

    if let Some(prev) = &previous {
        step(&mut n, "新旧版本分组对照", "2024 under CHS-DRG 1.1 (in force then) and 2.0 (in force from 2025)");
        crate::cmd_drg::run(crate::cmd_drg::DrgCommand::Group {
            scheme: vec![prev.clone(), scheme.clone()],
            cases: vec![y2024.clone()],
            out: out.join("groups-2024-1.1-2.0.csv"),
            map_codes: None,
        })?;
    }

    step(&mut n, "权重测算", "DRG weights from 2024, grouped under the scheme in force for 2025");
    let weights = out.join("weights-2024.csv");
    crate::cmd_weights::run(crate::cmd_weights::WeightsCommand::Calibrate(crate::cmd_weights::CalibrateArgs {
        cases: vec![y2024.clone()],
        scheme: scheme.clone(),
        out: weights.clone(),
        trim: weights::Trim::LogSd { k: 3.0 },
        min_cases: 10,
        adjust: None,
        cmi_out: Some(out.join("cmi-2024.csv")),
    }))?;

    step(&mut n, "分组与付费点数", "grouping and points, 2025");
    let points = out.join("points-2025.csv");
    crate::cmd_points::run(crate::cmd_points::PointsArgs {
        params: None,
        cases: vec![y2025.clone()],
        scheme: Some(scheme.clone()),
        weights: Some(weights.clone()),
        library: None,
        institutions: region.join("institutions.csv"),
        history_cases: vec![y2024.clone()],
        codes: None,
        rules: None,
        special_cases: None,
        out: points.clone(),
    })?;

    step(&mut n, "预算与结算", "budget and settlement cycle, 2025");
    crate::cmd_settle::run(crate::cmd_settle::SettleArgs {
        params: None,
        points_params: None,
        year: 2025,
        cases: vec![y2025.clone()],
        scheme: scheme.clone(),
        weights: weights.clone(),
        institutions: region.join("institutions.csv"),
        codes: None,
        rules: None,
        special_cases: None,
        history: Vec::new(),
        history_cases: vec![y2024.clone()],
        scores: None,
        fund_shares: None,
        out: out.join("settle-2025"),
    })?;

    println!("\n== 下一步 (next) ==");
    let s = scheme.display();
    let c = y2025.display();
    println!("  drgdip drg explain --scheme {s} --cases {c} --case-id C2025000000000");
    if let Some(prev) = &previous {
        println!("  drgdip drg diff --from {} --to {s} --cases {c}", prev.display());
    }
    println!("  drgdip qc {c} --codes {}", codes.display());
    println!("  files: {}", out.display());
    if a.no_serve {
        return Ok(());
    }

    step(&mut n, "平台服务", "the service: region loaded into the store, 2025 settled, web pages");
    let data = out.join("data");
    println!("  store: {} (delete it to start afresh)", data.display());
    println!("  web pages: http://{}/ui/   (Ctrl-C stops the service)", a.listen);
    crate::cmd_serve::run(crate::cmd_serve::ServeArgs {
        data,
        listen: a.listen,
        database_url: None,
        demo: true,
        demo_hospitals: a.hospitals,
        demo_cases: a.cases,
        point_value: None,
        reference: reference.clone(),
        builtin_scheme: reference.is_none(),
        behind_proxy: false,
    })
}
