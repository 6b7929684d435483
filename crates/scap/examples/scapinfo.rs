//! Print a capture's metadata summary and event counts: `cargo run --example scapinfo -- FILE [-v]`.
use harrier_event::{NormalizeMode, Normalizer};
use harrier_scap::Reader;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: scapinfo FILE [-v]");
        std::process::exit(2);
    };
    let verbose = args.iter().any(|a| a == "-v");
    let mut r = match Reader::open(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let h = r.header();
    println!(
        "shb {}.{} gzip={} machine={:?} interfaces={} users={} groups={} threads={} fd_tables={}",
        h.section.major,
        h.section.minor,
        r.is_gzip(),
        h.machine.as_ref().map(|m| &m.hostname),
        h.interfaces.len(),
        h.users.len(),
        h.groups.len(),
        h.threads.len(),
        h.fd_tables.len()
    );
    let mut norm = Normalizer::new(NormalizeMode::ExitOnly);
    let mut out = 0u64;
    loop {
        let ev = match r.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        };
        if verbose {
            println!("{} {} {} {:?} n={}", ev.ts(), ev.tid(), ev.etype(), ev.info().name, ev.nparams());
        }
        if norm.push(ev).is_some() {
            out += 1;
        }
    }
    println!(
        "events={} normalised_out={} stats={:?} norm={:?}",
        r.event_index(),
        out,
        r.stats(),
        norm.stats()
    );
    for w in r.warnings() {
        println!("warning: {w}");
    }
}
