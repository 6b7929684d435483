//! Kafka, over the Kafka wire protocol (no client library, no C): ApiVersions picks the Metadata
//! version (1–4; the auto-creation flag needs 4), a Metadata request finds the partitions of `kafka.topic` and their leaders, alerts are spread over the partitions by the
//! balancer, and one Produce request (v3, v2 record batches with CRC-32C) per leader carries the
//! batch. With `requiredacks` ONE or ALL a batch counts as delivered only when every partition
//! acknowledged it; any error drops the connection and the cached metadata and fails the batch,
//! so the queue retries it (partitions that had already taken their part then get it twice).
//!
//! The value of each record is Falco's JSON alert. The `hash`, `crc32` and `murmur2` balancers
//! use the rule name as the record key and hash it (FNV-1a, CRC-32, Kafka's murmur2), so one
//! rule's alerts stay in order in one partition; `round_robin` (default) and `least_bytes` send
//! records without a key. Not supported (refused at start-up): SASL, TLS, and compression other
//! than NONE and GZIP.

pub mod wire;

use crate::common::{json_bytes, CommonConfig};
use crate::sink::{BoxFut, Sink, SinkError};
use harrier_engine::Alert;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use wire::{Compression, Dec, Enc, Record};

/// falcosidekick's `kafka:` keys.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct KafkaConfig {
    /// Comma-separated bootstrap brokers (`host:port`, port 9092 when missing).
    pub hostport: String,
    pub topic: String,
    /// Let the broker create the topic if it does not exist (Metadata's auto-creation flag).
    pub topiccreation: bool,
    /// `round_robin` (default), `least_bytes`, `hash`, `crc32`, `murmur2`.
    pub balancer: String,
    pub clientid: String,
    /// `NONE` (default) or `GZIP`.
    pub compression: String,
    /// `NONE`, `ONE` (Harrier's default) or `ALL`.
    pub requiredacks: String,
    pub sasl: String,
    pub tls: bool,
    pub username: String,
    pub password: String,
    #[serde(rename = "async")]
    pub async_: bool,
    #[serde(flatten)]
    pub common: CommonConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Balancer {
    RoundRobin,
    LeastBytes,
    Fnv,
    Crc32,
    Murmur2,
}

/// Where the topic's partitions live.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metadata {
    /// node id → "host:port".
    pub(crate) brokers: HashMap<i32, String>,
    /// (partition, leader node id), sorted by partition.
    pub(crate) partitions: Vec<(i32, i32)>,
}

/// One broker connection; requests are strictly sequential.
struct Conn {
    s: TcpStream,
    next_id: i32,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RESPONSE: usize = 64 << 20;

fn kerr(m: impl std::fmt::Display) -> SinkError {
    SinkError::transient(format!("kafka: {m}"))
}

impl Conn {
    async fn connect(addr: &str) -> Result<Conn, SinkError> {
        let s = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| kerr(format!("{addr}: connect timed out")))?
            .map_err(|e| kerr(format!("{addr}: {e}")))?;
        s.set_nodelay(true).ok();
        Ok(Conn { s, next_id: 1 })
    }

    /// Send a request; read its response (correlation id checked) unless `expect_response` is
    /// false (Produce with acks 0).
    async fn request(
        &mut self,
        api_key: i16,
        version: i16,
        client_id: &str,
        body: &[u8],
        expect_response: bool,
    ) -> Result<Vec<u8>, SinkError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.s.write_all(&wire::frame(api_key, version, id, client_id, body)).await.map_err(kerr)?;
        if !expect_response {
            return Ok(Vec::new());
        }
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).await.map_err(|e| kerr(format!("reading response: {e}")))?;
        let n = i32::from_be_bytes(len);
        if n < 4 || n as usize > MAX_RESPONSE {
            return Err(kerr(format!("bad response size {n}")));
        }
        let mut buf = vec![0u8; n as usize];
        self.s.read_exact(&mut buf).await.map_err(|e| kerr(format!("reading response: {e}")))?;
        let got = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if got != id {
            return Err(kerr(format!("response for request {got}, expected {id}")));
        }
        buf.drain(..4);
        Ok(buf)
    }
}

#[derive(Default)]
struct State {
    meta: Option<Metadata>,
    /// Metadata request version both sides speak (found with ApiVersions).
    meta_version: Option<i16>,
    conns: HashMap<String, Conn>,
    next_rr: usize,
    /// Bytes sent per partition index (least_bytes).
    sent: Vec<u64>,
}

pub struct KafkaSink {
    bootstrap: Vec<String>,
    topic: String,
    client_id: String,
    create_topic: bool,
    acks: i16,
    balancer: Balancer,
    compression: Compression,
    state: Mutex<State>,
}

fn with_port(h: &str) -> String {
    let h = h.trim().trim_start_matches("kafka://").trim_end_matches('/');
    // `host:port`, `[v6]:port`, or a bare host.
    let has_port = match h.rsplit_once(':') {
        Some((host, p)) => p.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
        None => false,
    };
    if has_port {
        h.to_string()
    } else {
        format!("{h}:9092")
    }
}

/// The highest Metadata version (of 1–4) an ApiVersions v0 response offers; a broker without
/// Produce v3 is a permanent error.
pub(crate) fn parse_api_versions(resp: &[u8]) -> Result<i16, SinkError> {
    let bad = |e: String| kerr(format!("bad ApiVersions response: {e}"));
    let mut d = Dec::new(resp);
    let err = d.i16().map_err(bad)?;
    if err != 0 {
        return Err(kerr(format!("ApiVersions: {} ({err})", wire::error_name(err))));
    }
    let mut best = None;
    for _ in 0..d.array_len().map_err(bad)? {
        let (key, min, max) = (d.i16().map_err(bad)?, d.i16().map_err(bad)?, d.i16().map_err(bad)?);
        if key == 3 && min <= 4 && max >= 1 {
            best = Some(max.min(4));
        }
        if key == 0 && (min > 3 || max < 3) {
            return Err(SinkError::permanent(format!(
                "kafka: the broker does not speak Produce v3 (it speaks v{min}–v{max})"
            )));
        }
    }
    best.ok_or_else(|| SinkError::permanent("kafka: the broker speaks no Metadata version 1–4"))
}

impl KafkaSink {
    pub fn new(c: &KafkaConfig) -> Result<Self, String> {
        let bootstrap: Vec<String> =
            c.hostport.split(',').filter(|s| !s.trim().is_empty()).map(with_port).collect();
        if bootstrap.is_empty() {
            return Err("kafka.hostport is empty".into());
        }
        if c.topic.trim().is_empty() {
            return Err("kafka.topic is required".into());
        }
        if !c.sasl.is_empty() || c.tls {
            return Err("kafka.sasl and kafka.tls are not supported by Harrier's Kafka producer".into());
        }
        let acks = match c.requiredacks.to_ascii_uppercase().as_str() {
            "" | "ONE" | "1" => 1,
            "NONE" | "0" => 0,
            "ALL" | "-1" => -1,
            o => return Err(format!("kafka.requiredacks must be NONE, ONE or ALL, not '{o}'")),
        };
        let balancer = match c.balancer.to_ascii_lowercase().as_str() {
            "" | "round_robin" | "roundrobin" => Balancer::RoundRobin,
            "least_bytes" | "leastbytes" => Balancer::LeastBytes,
            "hash" => Balancer::Fnv,
            "crc32" => Balancer::Crc32,
            "murmur2" => Balancer::Murmur2,
            o => {
                return Err(format!(
                    "kafka.balancer must be round_robin, least_bytes, hash, crc32 or murmur2, not '{o}'"
                ))
            }
        };
        let compression = match c.compression.to_ascii_uppercase().as_str() {
            "" | "NONE" => Compression::None,
            "GZIP" => Compression::Gzip,
            o => return Err(format!("kafka.compression: '{o}' is not supported (NONE or GZIP)")),
        };
        let client_id = if c.clientid.is_empty() { "harrier".to_string() } else { c.clientid.clone() };
        Ok(KafkaSink {
            bootstrap,
            topic: c.topic.trim().to_string(),
            client_id,
            create_topic: c.topiccreation,
            acks,
            balancer,
            compression,
            state: Mutex::new(State::default()),
        })
    }

    /// Take (or open) the connection to `addr`; the caller puts it back after a clean exchange,
    /// so a cancelled or failed request never leaves a half-read connection behind.
    async fn conn(st: &mut State, addr: &str) -> Result<Conn, SinkError> {
        match st.conns.remove(addr) {
            Some(c) => Ok(c),
            None => Conn::connect(addr).await,
        }
    }

    /// The highest Metadata version (of 1–4) the broker speaks.
    async fn negotiate(&self, c: &mut Conn) -> Result<i16, SinkError> {
        parse_api_versions(&c.request(18, 0, &self.client_id, &[], true).await?)
    }

    async fn metadata(&self, st: &mut State) -> Result<Metadata, SinkError> {
        let mut addrs: Vec<String> = self.bootstrap.clone();
        if let Some(m) = &st.meta {
            addrs.extend(m.brokers.values().cloned());
        }
        let mut last = kerr("no broker reachable");
        for addr in addrs {
            let mut c = match Self::conn(st, &addr).await {
                Ok(c) => c,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let version = match st.meta_version {
                Some(v) => v,
                None => match self.negotiate(&mut c).await {
                    Ok(v) => v,
                    Err(e) if e.permanent => return Err(e),
                    Err(e) => {
                        last = e;
                        continue;
                    }
                },
            };
            st.meta_version = Some(version);
            let mut body = Enc::default();
            body.i32(1).str(&self.topic);
            if version >= 4 {
                body.i8(self.create_topic as i8);
            }
            match c.request(3, version, &self.client_id, &body.0, true).await {
                Ok(resp) => {
                    st.conns.insert(addr.clone(), c);
                    return self.parse_metadata(&resp, version);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    pub(crate) fn parse_metadata(&self, resp: &[u8], version: i16) -> Result<Metadata, SinkError> {
        let bad = |e: String| kerr(format!("bad Metadata response: {e}"));
        let mut d = Dec::new(resp);
        let mut m = Metadata::default();
        if version >= 3 {
            d.i32().map_err(bad)?; // throttle
        }
        for _ in 0..d.array_len().map_err(bad)? {
            let id = d.i32().map_err(bad)?;
            let host = d.str().map_err(bad)?;
            let port = d.i32().map_err(bad)?;
            d.nstr().map_err(bad)?; // rack
            let host = if host.contains(':') { format!("[{host}]") } else { host };
            m.brokers.insert(id, format!("{host}:{port}"));
        }
        if version >= 2 {
            d.nstr().map_err(bad)?; // cluster id
        }
        d.i32().map_err(bad)?; // controller
        for _ in 0..d.array_len().map_err(bad)? {
            let err = d.i16().map_err(bad)?;
            let name = d.str().map_err(bad)?;
            d.i8().map_err(bad)?; // internal
            let mut parts = Vec::new();
            for _ in 0..d.array_len().map_err(bad)? {
                let _perr = d.i16().map_err(bad)?;
                let idx = d.i32().map_err(bad)?;
                let leader = d.i32().map_err(bad)?;
                for _ in 0..d.array_len().map_err(bad)? {
                    d.i32().map_err(bad)?;
                }
                for _ in 0..d.array_len().map_err(bad)? {
                    d.i32().map_err(bad)?;
                }
                parts.push((idx, leader));
            }
            if name != self.topic {
                continue;
            }
            if err != 0 {
                let hint = if err == 3 && !self.create_topic {
                    " (it does not exist; kafka.topiccreation: true lets the broker create it)"
                } else {
                    ""
                };
                return Err(SinkError {
                    message: format!(
                        "kafka: topic '{}': {} ({err}){hint}",
                        self.topic,
                        wire::error_name(err)
                    ),
                    permanent: !wire::retriable(err),
                });
            }
            parts.sort_unstable();
            m.partitions = parts;
        }
        if m.partitions.is_empty() {
            return Err(kerr(format!("topic '{}' has no partitions yet", self.topic)));
        }
        Ok(m)
    }

    /// The partition (index into `meta.partitions`) of one record.
    fn pick(&self, st: &mut State, n: usize, a: &Alert, size: usize) -> usize {
        let key = a.rule.as_bytes();
        match self.balancer {
            Balancer::RoundRobin => {
                st.next_rr = st.next_rr.wrapping_add(1);
                st.next_rr % n
            }
            Balancer::LeastBytes => {
                st.sent.resize(n, 0);
                let i = (0..n).min_by_key(|&i| st.sent[i]).unwrap_or(0);
                st.sent[i] += size as u64;
                i
            }
            Balancer::Fnv => wire::fnv1a(key) as usize % n,
            Balancer::Crc32 => wire::crc32_ieee(key) as usize % n,
            Balancer::Murmur2 => (wire::murmur2(key) & 0x7fff_ffff) as usize % n,
        }
    }

    fn keyed(&self) -> bool {
        matches!(self.balancer, Balancer::Fnv | Balancer::Crc32 | Balancer::Murmur2)
    }

    async fn produce(&self, st: &mut State, alerts: &[Arc<Alert>]) -> Result<(), SinkError> {
        if st.meta.is_none() {
            st.meta = Some(self.metadata(st).await?);
        }
        let meta = st.meta.clone().unwrap_or_default();
        let n = meta.partitions.len().max(1);
        let values: Vec<Vec<u8>> = alerts.iter().map(|a| json_bytes(a)).collect();
        // partition index → record indexes
        let mut by_part: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, a) in alerts.iter().enumerate() {
            let p = self.pick(st, n, a, values[i].len());
            by_part.entry(p).or_default().push(i);
        }
        // leader → [(partition id, batch)]
        let mut by_leader: BTreeMap<i32, Vec<(i32, Vec<u8>)>> = BTreeMap::new();
        for (p, idxs) in by_part {
            let Some(&(pid, leader)) = meta.partitions.get(p) else { continue };
            if leader < 0 {
                return Err(kerr(format!("partition {pid} of '{}' has no leader", self.topic)));
            }
            let recs: Vec<Record<'_>> = idxs
                .iter()
                .map(|&i| Record {
                    key: self.keyed().then(|| alerts[i].rule.as_bytes()),
                    value: &values[i],
                    timestamp_ms: (alerts[i].time_ns / 1_000_000) as i64,
                })
                .collect();
            by_leader.entry(leader).or_default().push((pid, wire::record_batch(&recs, self.compression)));
        }
        for (leader, parts) in by_leader {
            let addr = meta
                .brokers
                .get(&leader)
                .cloned()
                .ok_or_else(|| kerr(format!("leader {leader} is not among the brokers")))?;
            let mut body = Enc::default();
            body.nstr(None).i16(self.acks).i32(10_000).i32(1).str(&self.topic).i32(parts.len() as i32);
            for (pid, batch) in &parts {
                body.i32(*pid).bytes(batch);
            }
            let mut c = Self::conn(st, &addr).await?;
            let resp = c.request(0, 3, &self.client_id, &body.0, self.acks != 0).await?;
            st.conns.insert(addr.clone(), c);
            if self.acks != 0 {
                self.check_produce(&resp)?;
            }
        }
        Ok(())
    }

    pub(crate) fn check_produce(&self, resp: &[u8]) -> Result<(), SinkError> {
        let bad = |e: String| kerr(format!("bad Produce response: {e}"));
        let mut d = Dec::new(resp);
        for _ in 0..d.array_len().map_err(bad)? {
            let topic = d.str().map_err(bad)?;
            for _ in 0..d.array_len().map_err(bad)? {
                let pid = d.i32().map_err(bad)?;
                let err = d.i16().map_err(bad)?;
                d.i64().map_err(bad)?; // base offset
                d.i64().map_err(bad)?; // log append time
                if err != 0 {
                    return Err(SinkError {
                        message: format!("kafka: {topic}[{pid}]: {} ({err})", wire::error_name(err)),
                        permanent: !wire::retriable(err),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Sink for KafkaSink {
    fn kind(&self) -> &'static str {
        "kafka"
    }
    fn max_batch(&self) -> usize {
        256
    }
    fn deliver<'a>(&'a self, alerts: &'a [Arc<Alert>]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut st = self.state.lock().await;
            let r = self.produce(&mut st, alerts).await;
            if r.is_err() {
                // Leaders may have moved or the broker restarted: start from the bootstrap list.
                st.meta = None;
                st.conns.clear();
            }
            r
        })
    }
}

#[cfg(test)]
mod tests;
