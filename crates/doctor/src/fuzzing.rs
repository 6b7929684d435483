//! Entry point for the fuzz target (`crates/doctor/fuzz`): a configuration file's text through
//! everything doctor derives from it without touching the network or the kernel (sink
//! endpoints, the sinks' own parse, priorities, the output floor, services' keys). Not a stable
//! API.

use crate::{rules, sinks, Context, Options};

pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut cx = Context::new(Options::default());
    cx.set_text("fuzz", text.to_string());
    if cx.config_error.is_some() {
        return;
    }
    let _ = harrier_sinks::Config::parse(text);
    for (name, _, eps) in sinks::configured(&cx.config) {
        assert!(!name.is_empty());
        if let Ok(eps) = eps {
            for e in eps {
                assert!(!e.host.is_empty(), "an endpoint without a host");
            }
        }
    }
    let _ = rules::min_priority(&cx);
    let _ = rules::output_floor(&cx);
    for s in crate::services::SERVICES {
        let _ = (cx.bool(s.enabled_key), cx.str(s.port_key), cx.str(s.addr_key));
    }
}

/// Seed inputs.
pub const SEEDS: &[&str] = &[
    "loki: {hostport: 'http://loki:3100'}\nkafka: {hostport: 'a:1,b'}\n",
    "sinks:\n  - {type: nats, hostport: 'nats://n:4222'}\n  - {type: syslog, host: h, port: x}\n",
    "webhook: {address: 'http://[::1]:80/x', minimumpriority: error}\nstdout_output: {enabled: false}\n",
    "aws: {s3: {bucket: b, endpoint: 'http://127.0.0.1:9000'}}\nhttp_output: {enabled: true, url: ':::'}\n",
    "ui: {enabled: true, listen_port: 70000}\npriority: nope\n",
    "redis: {address: ':6379'}\nsmtp: {hostport: 'h:'}\n",
];

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_run() {
        for s in super::SEEDS {
            super::config(s.as_bytes());
        }
    }
}

/// Every target briefly in the unit tests: seeds, the corpus kept in the repository, then
/// mutations for `HARRIER_FUZZ_SECS` (see `harrier-fuzzrun`).
#[cfg(test)]
mod brief_fuzz {
    #[test]
    fn config() {
        harrier_fuzzrun::run(
            env!("CARGO_MANIFEST_DIR"),
            "config",
            &super::SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>(),
            super::config,
        );
    }
}
