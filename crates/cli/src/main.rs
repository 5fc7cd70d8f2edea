//! `drgdip`: the command-line entry point. IO lives here; the domain crates stay pure.

use clap::{Parser, Subcommand};

mod cmd_drg;

#[derive(Parser)]
#[command(name = "drgdip", version, about = "DRG/DIP payment under a regional point-method budget (区域点数法总额预算)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CHS-DRG grouping (DRG 分组): group, explain, diff schemes.
    #[command(subcommand)]
    Drg(cmd_drg::DrgCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Drg(cmd) => cmd_drg::run(cmd),
    }
}
