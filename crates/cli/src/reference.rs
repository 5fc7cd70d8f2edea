//! Where the national reference data (`shared/reference`) is, for the commands that put
//! CHS-DRG 2.0 in force by default (`drgdip demo`, `drgdip serve`).

use std::path::{Path, PathBuf};

/// The default place, relative to the working directory (the project root in the
/// quick start): `../shared/reference`.
pub const DEFAULT_DIR: &str = "../shared/reference";

/// The reference directory to use: the one given (`--reference` or `DRGDIP_REFERENCE`),
/// which must hold the schemes; else [`DEFAULT_DIR`] when it holds them; else none
/// (the embedded demo scheme). `--builtin-scheme` forces none.
pub fn resolve(given: Option<&Path>, builtin: bool) -> anyhow::Result<Option<PathBuf>> {
    if builtin {
        return Ok(None);
    }
    let holds = |d: &Path| server::reference::IN_FORCE.iter().all(|(_, sub, _)| d.join(sub).join("scheme.json").is_file());
    match given {
        Some(d) if holds(d) => Ok(Some(d.to_path_buf())),
        Some(d) => anyhow::bail!(
            "{}: not a reference directory (expected {})",
            d.display(),
            server::reference::IN_FORCE.map(|(_, s, _)| format!("{s}/scheme.json")).join(", ")
        ),
        None => {
            let d = PathBuf::from(DEFAULT_DIR);
            Ok(holds(&d).then_some(d))
        }
    }
}

/// Prints which schemes are in force by effective date.
pub fn announce(dir: Option<&Path>) {
    match dir {
        Some(d) => {
            for (name, sub, eff) in server::reference::IN_FORCE {
                println!("  分组方案 {name}：自 {eff} 起执行 ({})", d.join(sub).display());
            }
        }
        None => println!(
            "  分组方案：内置演示方案 (the embedded demo scheme; {DEFAULT_DIR} not found — give --reference DIR for CHS-DRG 1.1/2.0)"
        ),
    }
}
