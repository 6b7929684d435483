//! Write the fuzz seeds: `cargo run -p harrier-k8saudit --example k8saudit_fuzz_seeds -- DIR`
//! (files go to DIR/webhook_body and DIR/jsonl).

fn main() {
    let dir = std::path::PathBuf::from(
        std::env::args().nth(1).unwrap_or_else(|| "crates/k8saudit/fuzz/corpus".into()),
    );
    for target in ["webhook_body", "jsonl"] {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).expect("create corpus dir");
        for (name, bytes) in harrier_k8saudit::fuzzing::seeds() {
            std::fs::write(d.join(name), bytes).expect("write seed");
        }
    }
}
