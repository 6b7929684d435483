//! The parts of the Kafka wire protocol a producer needs: big-endian primitives, varints, request
//! framing, the v2 record batch (CRC-32C) and the partitioning hashes.

use std::io::Write;

/// Encoder for request bodies.
#[derive(Default)]
pub struct Enc(pub Vec<u8>);

impl Enc {
    pub fn i8(&mut self, v: i8) -> &mut Self {
        self.0.push(v as u8);
        self
    }
    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A (non-null) string: int16 length + bytes.
    pub fn str(&mut self, s: &str) -> &mut Self {
        let n = s.len().min(i16::MAX as usize);
        self.i16(n as i16);
        self.0.extend_from_slice(&s.as_bytes()[..n]);
        self
    }
    /// A nullable string (`None` is length -1).
    pub fn nstr(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.str(s),
            None => self.i16(-1),
        }
    }
    /// Bytes with an int32 length.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.i32(b.len() as i32);
        self.0.extend_from_slice(b);
        self
    }
    /// Zig-zag varint (records use these for lengths and deltas).
    pub fn varlong(&mut self, v: i64) -> &mut Self {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                self.0.push(b);
                return self;
            }
            self.0.push(b | 0x80);
        }
    }
    /// A varint-length-prefixed byte string, or -1 for null.
    pub fn vbytes(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            Some(b) => {
                self.varlong(b.len() as i64);
                self.0.extend_from_slice(b);
            }
            None => {
                self.varlong(-1);
            }
        }
        self
    }
}

/// Decoder for response bodies; every read is bounds-checked.
pub struct Dec<'a> {
    b: &'a [u8],
    pos: usize,
}

pub type DecResult<T> = Result<T, String>;

impl<'a> Dec<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Dec { b, pos: 0 }
    }
    fn take(&mut self, n: usize) -> DecResult<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| {
            format!("response truncated at byte {} (wanted {n} more of {})", self.pos, self.b.len())
        })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn i8(&mut self) -> DecResult<i8> {
        Ok(self.take(1)?[0] as i8)
    }
    pub fn i16(&mut self) -> DecResult<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    pub fn i32(&mut self) -> DecResult<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn i64(&mut self) -> DecResult<i64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    pub fn nstr(&mut self) -> DecResult<Option<String>> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(None);
        }
        Ok(Some(String::from_utf8_lossy(self.take(n as usize)?).into_owned()))
    }
    pub fn str(&mut self) -> DecResult<String> {
        Ok(self.nstr()?.unwrap_or_default())
    }
    /// An array length; -1 (null) reads as 0. Bounded by what is left, so a bad length cannot
    /// make the caller loop for long.
    pub fn array_len(&mut self) -> DecResult<usize> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        let n = n as usize;
        if n > self.b.len() - self.pos {
            return Err(format!("array length {n} exceeds the response"));
        }
        Ok(n)
    }
}

/// A whole request: size, header v1 (api key, version, correlation id, client id), body.
pub fn frame(api_key: i16, version: i16, correlation: i32, client_id: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Enc::default();
    h.i32(0).i16(api_key).i16(version).i32(correlation).str(client_id);
    h.0.extend_from_slice(body);
    let n = (h.0.len() - 4) as i32;
    h.0[..4].copy_from_slice(&n.to_be_bytes());
    h.0
}

/// One record of a batch.
pub struct Record<'a> {
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
    pub timestamp_ms: i64,
}

/// Compression of a record batch (attributes bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None = 0,
    Gzip = 1,
}

/// A v2 record batch (magic 2) with base offset 0 and no producer id (not idempotent).
pub fn record_batch(records: &[Record<'_>], compression: Compression) -> Vec<u8> {
    let first_ts = records.iter().map(|r| r.timestamp_ms).min().unwrap_or(0);
    let max_ts = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
    let mut recs = Enc::default();
    for (i, r) in records.iter().enumerate() {
        let mut body = Enc::default();
        body.i8(0) // attributes
            .varlong(r.timestamp_ms - first_ts)
            .varlong(i as i64)
            .vbytes(r.key)
            .vbytes(Some(r.value))
            .varlong(0); // no headers
        recs.varlong(body.0.len() as i64);
        recs.0.extend_from_slice(&body.0);
    }
    let payload = match compression {
        Compression::None => recs.0,
        Compression::Gzip => {
            let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing to a Vec cannot fail.
            let _ = g.write_all(&recs.0);
            g.finish().unwrap_or_default()
        }
    };
    // Everything after the CRC field: attributes … records.
    let mut tail = Enc::default();
    tail.i16(compression as i16)
        .i32(records.len().saturating_sub(1) as i32)
        .i64(first_ts)
        .i64(max_ts)
        .i64(-1) // producer id
        .i16(-1) // producer epoch
        .i32(-1) // base sequence
        .i32(records.len() as i32);
    tail.0.extend_from_slice(&payload);
    let mut b = Enc::default();
    b.i64(0); // base offset
              // batch length: everything after this field (leader epoch 4 + magic 1 + crc 4 + tail).
    b.i32((4 + 1 + 4 + tail.0.len()) as i32);
    b.i32(-1); // partition leader epoch
    b.i8(2); // magic
    b.i32(crc32c(&tail.0) as i32);
    b.0.extend_from_slice(&tail.0);
    b.0
}

fn table(poly: u32) -> [u32; 256] {
    let mut t = [0u32; 256];
    for (i, slot) in t.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ poly } else { c >> 1 };
        }
        *slot = c;
    }
    t
}

fn crc_with(t: &[u32; 256], data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = t[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// CRC-32C (Castagnoli), as record batches use.
pub fn crc32c(data: &[u8]) -> u32 {
    static T: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    crc_with(T.get_or_init(|| table(0x82F6_3B78)), data)
}

/// CRC-32 (IEEE), for the `crc32` balancer.
pub fn crc32_ieee(data: &[u8]) -> u32 {
    static T: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    crc_with(T.get_or_init(|| table(0xEDB8_8320)), data)
}

/// Kafka's murmur2 (the Java client's default partitioner hash), for the `murmur2` balancer.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let r = chunks.remainder();
    if r.len() >= 3 {
        h ^= (r[2] as u32) << 16;
    }
    if r.len() >= 2 {
        h ^= (r[1] as u32) << 8;
    }
    if !r.is_empty() {
        h ^= r[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// FNV-1a (32 bit), for the `hash` balancer.
pub fn fnv1a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in data {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Kafka error codes a producer retries after refreshing metadata or reconnecting; anything else
/// (corrupt or oversized batch, authorization, invalid topic) is not going to get better.
pub fn retriable(code: i16) -> bool {
    !matches!(code, 2 | 10 | 17 | 18 | 29 | 31 | 43 | 44 | 87)
}

/// A short name for the error codes a producer meets.
pub fn error_name(code: i16) -> &'static str {
    match code {
        0 => "NONE",
        2 => "CORRUPT_MESSAGE",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        5 => "LEADER_NOT_AVAILABLE",
        6 => "NOT_LEADER_OR_FOLLOWER",
        7 => "REQUEST_TIMED_OUT",
        8 => "BROKER_NOT_AVAILABLE",
        10 => "MESSAGE_TOO_LARGE",
        17 => "INVALID_TOPIC_EXCEPTION",
        18 => "RECORD_LIST_TOO_LARGE",
        19 => "NOT_ENOUGH_REPLICAS",
        20 => "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        31 => "CLUSTER_AUTHORIZATION_FAILED",
        35 => "UNSUPPORTED_VERSION",
        43 => "UNSUPPORTED_FOR_MESSAGE_FORMAT",
        44 => "POLICY_VIOLATION",
        87 => "INVALID_RECORD",
        _ => "error",
    }
}
