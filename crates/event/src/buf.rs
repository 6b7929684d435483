//! `EventBuf`: an owned, reusable buffer for building events without per-event allocation after warm-up.

use crate::event::{is_large_type, Event, EventError, HEADER_LEN, MAX_PARAMS};

/// Builds one driver-format event at a time. Call [`EventBuf::begin`], push parameters in schema order,
/// then [`EventBuf::finish`]. All internal vectors keep their capacity between events.
#[derive(Default, Clone)]
pub struct EventBuf {
    out: Vec<u8>,
    data: Vec<u8>,
    lens: Vec<u32>,
    ts: u64,
    tid: u64,
    etype: u16,
    cpu: u16,
    flags: u32,
}

impl EventBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start a new event (discarding any unfinished one).
    pub fn begin(&mut self, ts: u64, tid: u64, etype: u16) -> &mut Self {
        self.ts = ts;
        self.tid = tid;
        self.etype = etype;
        self.cpu = 0;
        self.flags = 0;
        self.data.clear();
        self.lens.clear();
        self
    }

    pub fn set_cpu(&mut self, cpu: u16) -> &mut Self {
        self.cpu = cpu;
        self
    }
    pub fn set_flags(&mut self, flags: u32) -> &mut Self {
        self.flags = flags;
        self
    }
    pub fn set_type(&mut self, etype: u16) -> &mut Self {
        self.etype = etype;
        self
    }

    /// Number of parameters pushed so far.
    pub fn nparams(&self) -> usize {
        self.lens.len()
    }

    /// Append a parameter's raw bytes (empty slice = "no value").
    pub fn push(&mut self, bytes: &[u8]) -> &mut Self {
        self.data.extend_from_slice(bytes);
        self.lens.push(bytes.len() as u32);
        self
    }
    pub fn push_empty(&mut self) -> &mut Self {
        self.lens.push(0);
        self
    }
    pub fn push_u8(&mut self, v: u8) -> &mut Self {
        self.push(&[v])
    }
    pub fn push_u16(&mut self, v: u16) -> &mut Self {
        self.push(&v.to_le_bytes())
    }
    pub fn push_u32(&mut self, v: u32) -> &mut Self {
        self.push(&v.to_le_bytes())
    }
    pub fn push_u64(&mut self, v: u64) -> &mut Self {
        self.push(&v.to_le_bytes())
    }
    pub fn push_i64(&mut self, v: i64) -> &mut Self {
        self.push(&v.to_le_bytes())
    }
    /// A string parameter: bytes plus a trailing NUL.
    pub fn push_str(&mut self, s: &str) -> &mut Self {
        self.push_cstr(s.as_bytes())
    }
    pub fn push_cstr(&mut self, s: &[u8]) -> &mut Self {
        self.data.extend_from_slice(s);
        self.data.push(0);
        self.lens.push(s.len() as u32 + 1);
        self
    }

    /// Assemble the event and return a view of it. The bytes stay valid until the next `begin`.
    pub fn finish(&mut self) -> Result<Event<'_>, EventError> {
        if self.lens.len() > MAX_PARAMS {
            return Err(EventError::TooManyParams { nparams: self.lens.len() as u32 });
        }
        let large = is_large_type(self.etype);
        let lsize = if large { 4 } else { 2 };
        let total = HEADER_LEN + self.lens.len() * lsize + self.data.len();
        if !large && self.lens.iter().any(|&l| l > u16::MAX as u32) || total > u32::MAX as usize {
            return Err(EventError::ParamsOverflow { needed: total, len: total as u32 });
        }
        self.out.clear();
        self.out.reserve(total);
        self.out.extend_from_slice(&self.ts.to_le_bytes());
        self.out.extend_from_slice(&self.tid.to_le_bytes());
        self.out.extend_from_slice(&(total as u32).to_le_bytes());
        self.out.extend_from_slice(&self.etype.to_le_bytes());
        self.out.extend_from_slice(&(self.lens.len() as u32).to_le_bytes());
        for &l in &self.lens {
            if large {
                self.out.extend_from_slice(&l.to_le_bytes());
            } else {
                self.out.extend_from_slice(&(l as u16).to_le_bytes());
            }
        }
        self.out.extend_from_slice(&self.data);
        Event::new(&self.out, self.cpu, self.flags)
    }

    /// The last finished event's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }
}
