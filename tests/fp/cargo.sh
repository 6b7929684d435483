# A Rust crate without dependencies, built offline.
cargo new --quiet --vcs none demo
cd demo && cargo build --quiet --offline && ./target/debug/demo > /dev/null
