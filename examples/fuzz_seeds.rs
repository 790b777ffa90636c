//! Writes the fuzz targets' starting corpus: valid encodings of every message the proxy offers,
//! at every version (`kafka_oidc_proxy::proxy::fuzzing::seeds`).
//!
//!   cargo run --example fuzz_seeds -- fuzz/corpus
//!
//! Each target's inputs go to `<dir>/<target>/`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let seeds = kafka_oidc_proxy::proxy::fuzzing::seeds();
    for seed in &seeds {
        let target = dir.join(seed.target);
        if let Err(e) = std::fs::create_dir_all(&target)
            .and_then(|()| std::fs::write(target.join(&seed.name), &seed.bytes))
        {
            eprintln!("{}: {e}", target.display());
            return ExitCode::FAILURE;
        }
    }
    println!("{} seeds in {}", seeds.len(), dir.display());
    ExitCode::SUCCESS
}
