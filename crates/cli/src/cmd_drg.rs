//! `drgdip drg ...` subcommands.

#[derive(clap::Subcommand)]
pub enum DrgCommand {}

pub fn run(cmd: DrgCommand) -> anyhow::Result<()> {
    match cmd {}
}
