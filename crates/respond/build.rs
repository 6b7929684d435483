//! Compiles `bpf/block.bpf.c` (node:block_network) with clang (`BPF_CLANG` overrides the
//! compiler) and strips its DWARF (`BPF_STRIP`, default llvm-strip), like crates/probe does.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join("block.bpf.o");
    let clang = env::var("BPF_CLANG").unwrap_or_else(|_| "clang".into());
    println!("cargo:rerun-if-changed=bpf/block.bpf.c");
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    let status = Command::new(&clang)
        .args(["-g", "-O2", "-target", "bpf", "-Wall", "-Werror", "-I/usr/include/x86_64-linux-gnu"])
        .args(["-c", "bpf/block.bpf.c", "-o"])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("harrier-respond: `{clang}` failed to compile bpf/block.bpf.c ({s})"),
        Err(e) => panic!(
            "harrier-respond: cannot run the BPF compiler `{clang}` ({e}). Install clang and libbpf-dev \
             with `scripts/setup.sh` (or set BPF_CLANG)."
        ),
    }
    // Keep .BTF (the maps are BTF-defined), drop the DWARF.
    let strip = env::var("BPF_STRIP").unwrap_or_else(|_| "llvm-strip".into());
    println!("cargo:rerun-if-env-changed=BPF_STRIP");
    match Command::new(&strip).arg("-g").arg(&obj).status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("harrier-respond: `{strip} -g` failed ({s})"),
        Err(e) => panic!("harrier-respond: cannot run `{strip}` ({e}); install llvm with `scripts/setup.sh`"),
    }
}
