//! Entry points for the fuzz targets (`crates/ui/fuzz`): what the network hands `harrier ui`
//! (ingest bodies, query strings, cookies, addresses), through the functions the server calls.
//! Must never panic. Not a stable API.

use crate::params::{harrier_query, sidekick_query, Params};

/// An ingest body, then the store's row derivation and the FTS text.
pub fn ingest(data: &[u8]) {
    if let Ok(alerts) = crate::server::parse_ingest(data) {
        for a in &alerts {
            let row = harrier_store::Row::from_alert(a);
            assert!(!row.json.is_empty());
            let _ = harrier_store::fts_query(&row.output);
        }
    }
}

/// A query string (`k=v&k=v`, raw bytes) through both filter parsers and the FTS query builder.
pub fn query(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let p: Params = s
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let now = 1_700_000_000_000_000_000;
    if let Ok(q) = harrier_query(&p, now) {
        assert!(q.limit <= harrier_store::Query::MAX_LIMIT);
        if let Some(t) = &q.text {
            if let Some(f) = harrier_store::fts_query(t) {
                // Every term is quoted (a prefix, or a number as itself): no bare FTS5 syntax
                // survives.
                let quoted_number = |w: &str| {
                    w.len() > 2 && w.ends_with('"') && w[1..w.len() - 1].bytes().all(|b| b.is_ascii_digit())
                };
                assert!(
                    f.split(" AND ").all(|w| w.starts_with('"') && (w.ends_with("\"*") || quoted_number(w))),
                    "{f}"
                );
            }
        }
    }
    let _ = sidekick_query(&p, now);
    let _ = crate::auth::cookie(Some(&s), crate::auth::SESSION_COOKIE);
    let _ = crate::auth::Cidr::parse(&s);
    let _ = crate::params::parse_time_ns(&s, now);
    // The store URL's TLS parameters (read from the config and `--store`).
    #[cfg(feature = "postgres")]
    if let Ok((rest, tls)) = harrier_store::pgtls::split_url(&s) {
        let _ = tls.pg_mode();
        // Nothing TLS is left behind for tokio-postgres: splitting again takes nothing more.
        let again = harrier_store::pgtls::split_url(&rest);
        assert_eq!(again, Ok((rest.clone(), harrier_store::pgtls::TlsParams::default())), "{s:?}");
    }
}

/// Seeds for the corpus.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ingest", br#"{"event":{"time":"2026-01-01T00:00:00Z","rule":"r","priority":"Notice","output":"o","output_fields":{"proc.name":"bash"},"tags":["a"]},"outputs":["WebUI"]}"#.to_vec()),
        ("ingest", br#"[{"time":"2026-01-01T00:00:00Z","rule":"r","priority":"Warning","output":"o"}]"#.to_vec()),
        ("query", b"priority=warning&rule=x&q=shell%20bash&since=1h&limit=5&tags=a,b".to_vec()),
        ("query", b"host=db sslmode=verify-full sslrootcert='/a b/\\'c.pem' password=x".to_vec()),
        ("query", b"postgres://u@h/d?sslmode=verify-ca&sslrootcert=%2Fca.pem&x=1".to_vec()),
        ("query", b"priority=Notice,Error&filter=\"x*\" NEAR(a)&page=2&since=15m".to_vec()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_and_odd_inputs_do_not_panic() {
        for (k, s) in super::seeds() {
            match k {
                "ingest" => super::ingest(&s),
                _ => super::query(&s),
            }
        }
        for odd in [
            &b""[..],
            b"\xff\xfe",
            b"[[[[",
            b"{\"event\":5}",
            b"limit=99999999999999999999999",
            b"since=99999999999999999999d",
        ] {
            super::ingest(odd);
            super::query(odd);
        }
    }
}

/// Every target briefly in the unit tests: seeds, the corpus kept in the repository, then
/// mutations for `HARRIER_FUZZ_SECS` (see `harrier-fuzzrun`).
#[cfg(test)]
mod brief_fuzz {
    fn seeds(kind: &str) -> Vec<Vec<u8>> {
        super::seeds().into_iter().filter(|(k, _)| *k == kind).map(|(_, s)| s).collect()
    }
    #[test]
    fn ingest() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "ingest", &seeds("ingest"), super::ingest);
    }
    #[test]
    fn query() {
        harrier_fuzzrun::run(env!("CARGO_MANIFEST_DIR"), "query", &seeds("query"), super::query);
    }
}
