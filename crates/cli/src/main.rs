//! `drgdip`: the command-line entry point. IO lives here; the domain crates stay pure.

use clap::{Parser, Subcommand};

mod cmd_dip;
mod claims_io;
mod cmd_budget;
mod cmd_demo;
mod cmd_drg;
mod cmd_monitor;
mod cmd_points;
mod cmd_qc;
mod cmd_report;
mod cmd_serve;
mod cmd_settle;
mod cmd_synth;
mod cmd_weights;
mod codes_io;
mod institutions_io;
mod pricing;
mod progress;
mod reference;

#[derive(Parser)]
#[command(name = "drgdip", version, about = "DRG/DIP payment under a regional point-method budget (区域点数法总额预算)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP service (平台服务): uploads, QC, grouping, points, configurations, accounts.
    Serve(cmd_serve::ServeArgs),
    /// Run the main job on embedded demo data (演示): synthetic region, QC, weights, points.
    Demo(cmd_demo::DemoArgs),
    /// Quality control of settlement lists (结算清单质控): findings per record
    /// and a data-quality score per institution.
    Qc(cmd_qc::QcArgs),
    /// CHS-DRG grouping (DRG 分组): group, explain, diff schemes.
    #[command(subcommand)]
    Drg(cmd_drg::DrgCommand),
    /// DIP (按病种分值付费): build a library from history, import a published one, group cases.
    #[command(subcommand)]
    Dip(cmd_dip::DipCommand),
    /// Relative weights (权重测算): calibrate DRG weights from history.
    #[command(subcommand)]
    Weights(cmd_weights::WeightsCommand),
    /// Points (付费点数) for every case, with the derivation of each.
    Points(cmd_points::PointsArgs),
    /// Budget (总额预算): the year's budget by insurance type and sub-category, with its derivation.
    Budget(cmd_budget::BudgetArgs),
    /// Settlement (结算): monthly prepayment, quarterly pre-settlement, annual settlement, statements.
    Settle(cmd_settle::SettleArgs),
    /// Synthetic region (模拟统筹区): institutions, settlement lists per year, injected abuse labels.
    Synth(cmd_synth::SynthArgs),
    /// Monitoring (运行监测): indicator tables and abuse flags with explanations.
    #[command(subcommand)]
    Monitor(cmd_monitor::MonitorCommand),
    /// Reports (报告): monthly feedback, quarterly bulletin, annual disclosure (HTML + XLSX).
    #[command(subcommand)]
    Report(cmd_report::ReportCommand),
}

/// Language of messages and traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// 中文
    Zh,
    /// English
    En,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => cmd_serve::run(args),
        Command::Demo(args) => cmd_demo::run(args),
        Command::Drg(cmd) => cmd_drg::run(cmd),
        Command::Dip(cmd) => cmd_dip::run(cmd),
        Command::Qc(args) => cmd_qc::run(args),
        Command::Synth(args) => cmd_synth::run(args),
        Command::Weights(cmd) => cmd_weights::run(cmd),
        Command::Points(args) => cmd_points::run(args),
        Command::Monitor(cmd) => cmd_monitor::run(cmd),
        Command::Report(cmd) => cmd_report::run(cmd),
        Command::Budget(args) => cmd_budget::run(args),
        Command::Settle(args) => cmd_settle::run(args),
    }
}
