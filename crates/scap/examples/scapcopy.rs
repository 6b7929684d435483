//! Rewrite a capture: `cargo run --example scapcopy -- IN OUT [--gzip] [--normalize]`.
//! `--normalize` writes exit-only newest-schema events (what Harrier's pipeline sees).
use harrier_event::{NormalizeMode, Normalizer};
use harrier_scap::{Reader, Writer, WriterOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: scapcopy IN OUT [--gzip] [--normalize]");
        std::process::exit(2);
    }
    let gzip = args.iter().any(|a| a == "--gzip");
    let normalize = args.iter().any(|a| a == "--normalize");
    let mut r = Reader::open(&args[1])?;
    let mut w = Writer::create(&args[2], WriterOptions { gzip, ..Default::default() })?;
    w.write_header(r.header())?;
    let mut norm =
        Normalizer::new(if normalize { NormalizeMode::ExitOnly } else { NormalizeMode::PassThrough });
    while let Some(ev) = r.next_event()? {
        if let Some(out) = norm.push(ev) {
            w.write_event(&out)?;
        }
    }
    let n = w.events_written();
    w.finish()?;
    eprintln!("wrote {n} events");
    Ok(())
}
