//! Write the seed inputs of the fuzz targets: `cargo run -p harrier-sinks --example sinks_fuzz_seeds --
//! crates/sinks/fuzz/corpus` (one folder per target).

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    for target in ["smtp", "ingest", "config", "hooks"] {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).expect("create the corpus folder");
        for (i, s) in harrier_sinks::fuzzing::seeds(target).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), s).expect("write a seed");
        }
    }
}
