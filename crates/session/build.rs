//! Compiles `bpf/session.bpf.c` with clang (`BPF_CLANG` overrides the compiler) and strips the DWARF
//! with `llvm-strip -g` (`BPF_STRIP` overrides), keeping `.BTF`/`.BTF.ext` for CO-RE, as
//! crates/probe does for its object. The kernel types come from crates/probe/bpf/vmlinux.h (one
//! committed copy for the workspace).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join("session.bpf.o");
    let clang = env::var("BPF_CLANG").unwrap_or_else(|_| "clang".into());
    let strip = env::var("BPF_STRIP").unwrap_or_else(|_| "llvm-strip".into());
    for f in ["bpf/session.bpf.c", "bpf/session.h", "../probe/bpf/vmlinux.h"] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    println!("cargo:rerun-if-env-changed=BPF_STRIP");
    let status = Command::new(&clang)
        .args(["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall", "-Werror"])
        .args(["-Ibpf", "-I../probe/bpf", "-c", "bpf/session.bpf.c", "-o"])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("harrier-session: `{clang}` failed to compile bpf/session.bpf.c ({s})"),
        Err(e) => panic!(
            "harrier-session: cannot run the BPF compiler `{clang}` ({e}). Install clang, llvm and \
             libbpf-dev with `scripts/setup.sh` (or set BPF_CLANG to a clang that targets bpf)."
        ),
    }
    match Command::new(&strip).arg("-g").arg(&obj).status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("harrier-session: `{strip} -g` failed ({s})"),
        Err(e) => panic!("harrier-session: cannot run `{strip}` ({e}); install llvm with `scripts/setup.sh`"),
    }
}
