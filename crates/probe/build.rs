//! Compiles `bpf/harrier.bpf.c` with clang (`BPF_CLANG` overrides the compiler) and strips the
//! DWARF with `llvm-strip -g` (`BPF_STRIP` overrides), keeping `.BTF`/`.BTF.ext` for CO-RE.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join("harrier.bpf.o");
    let clang = env::var("BPF_CLANG").unwrap_or_else(|_| "clang".into());
    let strip = env::var("BPF_STRIP").unwrap_or_else(|_| "llvm-strip".into());
    for f in ["bpf/harrier.bpf.c", "bpf/harrier.h", "bpf/vmlinux.h"] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    println!("cargo:rerun-if-env-changed=BPF_STRIP");
    let status = Command::new(&clang)
        .args(["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-Wall", "-Werror", "-Ibpf"])
        .args(["-c", "bpf/harrier.bpf.c", "-o"])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("harrier-probe: `{clang}` failed to compile bpf/harrier.bpf.c ({s})"),
        Err(e) => panic!(
            "harrier-probe: cannot run the BPF compiler `{clang}` ({e}). Install clang, llvm and \
             libbpf-dev with `scripts/setup.sh` (or set BPF_CLANG to a clang that targets bpf)."
        ),
    }
    match Command::new(&strip).arg("-g").arg(&obj).status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("harrier-probe: `{strip} -g` failed ({s})"),
        Err(e) => panic!(
            "harrier-probe: cannot run `{strip}` ({e}). Install llvm with `scripts/setup.sh` \
             (or set BPF_STRIP)."
        ),
    }
}
