//! The internal event: a borrowed, zero-allocation view over one event in the driver format.
//!
//! Layout (little-endian, packed): `u64 ts, u64 tid, u32 len, u16 type, u32 nparams`, then `nparams`
//! lengths (u16 each, or u32 for `EF_LARGE_PAYLOAD` types), then the parameters back to back.

use crate::consts::af;
use crate::schema::{event_info, EventInfo, UNKNOWN_EVENT};

/// Size of the event header (`struct ppm_evt_hdr`, V2).
pub const HEADER_LEN: usize = 26;
/// Size of the legacy (pre-V2) header without `nparams`.
pub const LEGACY_HEADER_LEN: usize = 22;
/// Upper bound on the number of parameters of one event (`PPM_MAX_EVENT_PARAMS`).
pub const MAX_PARAMS: usize = 32;

/// Why a byte slice is not a valid event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventError {
    /// Fewer bytes than the header.
    TooShort { have: usize },
    /// The header `len` disagrees with the bytes available.
    BadLength { header_len: u32, available: usize },
    /// More parameters than [`MAX_PARAMS`].
    TooManyParams { nparams: u32 },
    /// The length array plus the parameter lengths do not add up to `len`.
    ParamsOverflow { needed: usize, len: u32 },
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventError::TooShort { have } => write!(f, "event shorter than its header ({have} bytes)"),
            EventError::BadLength { header_len, available } => {
                write!(f, "event header says {header_len} bytes but {available} are available")
            }
            EventError::TooManyParams { nparams } => {
                write!(f, "event has {nparams} parameters (max {MAX_PARAMS})")
            }
            EventError::ParamsOverflow { needed, len } => {
                write!(f, "event parameters need {needed} bytes but the event is {len} bytes")
            }
        }
    }
}

impl std::error::Error for EventError {}

#[inline]
pub(crate) fn rd_u16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
#[inline]
pub(crate) fn rd_u32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
#[inline]
pub(crate) fn rd_u64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// Whether an event type uses u32 parameter lengths.
#[inline]
pub fn is_large_type(etype: u16) -> bool {
    event_info(etype).is_some_and(|i| i.is_large())
}

/// A validated, borrowed event. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Event<'a> {
    raw: &'a [u8],
    cpu: u16,
    flags: u32,
    nparams: u16,
    large: bool,
}

impl std::fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("ts", &self.ts())
            .field("tid", &self.tid())
            .field("type", &self.etype())
            .field("name", &self.info().name)
            .field("cpu", &self.cpu)
            .field("nparams", &self.nparams)
            .field("len", &self.raw.len())
            .finish()
    }
}

impl PartialEq for Event<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.raw == o.raw && self.cpu == o.cpu && self.flags == o.flags
    }
}

impl<'a> Event<'a> {
    /// Validate `raw` (exactly one V2 event: `raw.len()` must equal the header `len`).
    #[inline]
    pub fn new(raw: &'a [u8], cpu: u16, flags: u32) -> Result<Self, EventError> {
        if raw.len() < HEADER_LEN {
            return Err(EventError::TooShort { have: raw.len() });
        }
        let len = rd_u32(raw, 16);
        if len as usize != raw.len() {
            return Err(EventError::BadLength { header_len: len, available: raw.len() });
        }
        let etype = rd_u16(raw, 20);
        let nparams = rd_u32(raw, 22);
        if nparams as usize > MAX_PARAMS {
            return Err(EventError::TooManyParams { nparams });
        }
        let large = is_large_type(etype);
        let lsize = if large { 4 } else { 2 };
        let mut needed = HEADER_LEN + nparams as usize * lsize;
        if needed > raw.len() {
            return Err(EventError::ParamsOverflow { needed, len });
        }
        for i in 0..nparams as usize {
            let o = HEADER_LEN + i * lsize;
            needed += if large { rd_u32(raw, o) as usize } else { rd_u16(raw, o) as usize };
        }
        if needed > raw.len() {
            return Err(EventError::ParamsOverflow { needed, len });
        }
        Ok(Event { raw, cpu, flags, nparams: nparams as u16, large })
    }

    /// The raw driver-format bytes (header, lengths, params).
    #[inline]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    #[inline]
    pub fn ts(&self) -> u64 {
        rd_u64(self.raw, 0)
    }
    #[inline]
    pub fn tid(&self) -> u64 {
        rd_u64(self.raw, 8)
    }
    /// Total event length (header `len`).
    #[inline]
    pub fn len(&self) -> u32 {
        self.raw.len() as u32
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }
    #[inline]
    pub fn etype(&self) -> u16 {
        rd_u16(self.raw, 20)
    }
    /// Schema entry for the type (a static "unknown" entry for ids outside the table).
    #[inline]
    /// The event's type name as rules see it (`evt.type`): the schema's name, except for generic
    /// syscall events (`PPME_GENERIC_E/X`, syscalls without a dedicated event), named after the
    /// syscall code in their `ID` parameter (`madvise`).
    pub fn type_name(&self) -> &'static str {
        let info = self.info();
        if info.id == crate::ids::PPME_GENERIC_E || info.id == crate::ids::PPME_GENERIC_X {
            if let Some(n) = self.param_u16(0).and_then(crate::ppm_sc_name) {
                return n;
            }
        }
        info.name
    }

    pub fn info(&self) -> &'static EventInfo {
        event_info(self.etype()).unwrap_or(&UNKNOWN_EVENT)
    }
    #[inline]
    pub fn cpu(&self) -> u16 {
        self.cpu
    }
    /// Flags of an EVF block (0 for plain event blocks).
    #[inline]
    pub fn flags(&self) -> u32 {
        self.flags
    }
    #[inline]
    pub fn nparams(&self) -> usize {
        self.nparams as usize
    }
    /// Parameter lengths are u32 (`EF_LARGE_PAYLOAD`).
    #[inline]
    pub fn is_large(&self) -> bool {
        self.large
    }

    #[inline]
    fn plen(&self, i: usize) -> usize {
        if self.large {
            rd_u32(self.raw, HEADER_LEN + i * 4) as usize
        } else {
            rd_u16(self.raw, HEADER_LEN + i * 2) as usize
        }
    }

    /// Raw bytes of parameter `i`, including zero-length ones (`Some(&[])`); `None` if `i >= nparams`.
    #[inline]
    pub fn param_raw(&self, i: usize) -> Option<&'a [u8]> {
        let n = self.nparams as usize;
        if i >= n {
            return None;
        }
        let lsize = if self.large { 4 } else { 2 };
        let mut off = HEADER_LEN + n * lsize;
        for j in 0..i {
            off += self.plen(j);
        }
        let l = self.plen(i);
        Some(&self.raw[off..off + l])
    }

    /// Bytes of parameter `i`; `None` when absent or empty (empty = "no value").
    #[inline]
    pub fn param(&self, i: usize) -> Option<&'a [u8]> {
        self.param_raw(i).filter(|p| !p.is_empty())
    }

    /// Iterate over all parameters' raw bytes (empty ones included).
    pub fn params(&self) -> ParamIter<'a> {
        let lsize = if self.large { 4 } else { 2 };
        ParamIter {
            raw: self.raw,
            large: self.large,
            n: self.nparams as usize,
            i: 0,
            off: HEADER_LEN + self.nparams as usize * lsize,
        }
    }

    /// Index of the parameter called `name` in this event's schema.
    #[inline]
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.info().param_index(name)
    }

    /// Parameter by schema name.
    pub fn param_by_name(&self, name: &str) -> Option<&'a [u8]> {
        self.param(self.param_index(name)?)
    }

    /// Unsigned integer of any width 1..=8 (zero-extended).
    pub fn param_u64(&self, i: usize) -> Option<u64> {
        let p = self.param(i)?;
        Some(match p.len() {
            1 => p[0] as u64,
            2 => rd_u16(p, 0) as u64,
            4 => rd_u32(p, 0) as u64,
            8 => rd_u64(p, 0),
            _ => return None,
        })
    }

    /// Signed integer of any width 1..=8 (sign-extended).
    pub fn param_i64(&self, i: usize) -> Option<i64> {
        let p = self.param(i)?;
        Some(match p.len() {
            1 => p[0] as i8 as i64,
            2 => rd_u16(p, 0) as i16 as i64,
            4 => rd_u32(p, 0) as i32 as i64,
            8 => rd_u64(p, 0) as i64,
            _ => return None,
        })
    }

    pub fn param_u32(&self, i: usize) -> Option<u32> {
        let p = self.param(i)?;
        match p.len() {
            1 => Some(p[0] as u32),
            2 => Some(rd_u16(p, 0) as u32),
            4 => Some(rd_u32(p, 0)),
            _ => None,
        }
    }

    pub fn param_u16(&self, i: usize) -> Option<u16> {
        let p = self.param(i)?;
        match p.len() {
            1 => Some(p[0] as u16),
            2 => Some(rd_u16(p, 0)),
            _ => None,
        }
    }

    pub fn param_u8(&self, i: usize) -> Option<u8> {
        self.param(i).filter(|p| p.len() == 1).map(|p| p[0])
    }

    /// String bytes without the trailing NUL (and anything after an embedded NUL).
    pub fn param_cstr(&self, i: usize) -> Option<&'a [u8]> {
        let p = self.param(i)?;
        Some(match p.iter().position(|&b| b == 0) {
            Some(z) => &p[..z],
            None => p,
        })
    }

    /// String parameter as UTF-8 (`None` if absent or not UTF-8; use [`Event::param_cstr`] for bytes).
    pub fn param_str(&self, i: usize) -> Option<&'a str> {
        std::str::from_utf8(self.param_cstr(i)?).ok()
    }

    pub fn param_sockaddr(&self, i: usize) -> Option<SockAddr<'a>> {
        SockAddr::decode(self.param(i)?)
    }

    pub fn param_socktuple(&self, i: usize) -> Option<SockTuple<'a>> {
        SockTuple::decode(self.param(i)?)
    }

    pub fn param_fdlist(&self, i: usize) -> Option<FdList<'a>> {
        FdList::decode(self.param(i)?)
    }
}

/// Iterator over raw parameters.
pub struct ParamIter<'a> {
    raw: &'a [u8],
    large: bool,
    n: usize,
    i: usize,
    off: usize,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.i >= self.n {
            return None;
        }
        let l = if self.large {
            rd_u32(self.raw, HEADER_LEN + self.i * 4) as usize
        } else {
            rd_u16(self.raw, HEADER_LEN + self.i * 2) as usize
        };
        let p = &self.raw[self.off..self.off + l];
        self.off += l;
        self.i += 1;
        Some(p)
    }
}

/// A decoded `PT_SOCKADDR`. Addresses are in network byte order as on the wire; ports in host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockAddr<'a> {
    Inet {
        addr: [u8; 4],
        port: u16,
    },
    Inet6 {
        addr: [u8; 16],
        port: u16,
    },
    /// Path without the trailing NUL.
    Unix {
        path: &'a [u8],
    },
    /// Any other family: the bytes after the family byte.
    Other {
        family: u8,
        data: &'a [u8],
    },
}

fn cut_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(z) => &b[..z],
        None => b,
    }
}

impl<'a> SockAddr<'a> {
    pub fn decode(p: &'a [u8]) -> Option<Self> {
        let (&fam, rest) = p.split_first()?;
        Some(match fam {
            af::INET if rest.len() >= 6 => {
                SockAddr::Inet { addr: rest[..4].try_into().ok()?, port: rd_u16(rest, 4) }
            }
            af::INET6 if rest.len() >= 18 => {
                SockAddr::Inet6 { addr: rest[..16].try_into().ok()?, port: rd_u16(rest, 16) }
            }
            af::UNIX => SockAddr::Unix { path: cut_nul(rest) },
            _ => SockAddr::Other { family: fam, data: rest },
        })
    }
}

/// A decoded `PT_SOCKTUPLE` (`family, sip, sport, dip, dport` on the wire). Addresses in network
/// byte order, ports in host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockTuple<'a> {
    Inet {
        sip: [u8; 4],
        dip: [u8; 4],
        sport: u16,
        dport: u16,
    },
    Inet6 {
        sip: [u8; 16],
        dip: [u8; 16],
        sport: u16,
        dport: u16,
    },
    /// Kernel socket pointers and the path (without NUL).
    Unix {
        source: u64,
        dest: u64,
        path: &'a [u8],
    },
    Other {
        family: u8,
        data: &'a [u8],
    },
}

impl<'a> SockTuple<'a> {
    pub fn decode(p: &'a [u8]) -> Option<Self> {
        let (&fam, r) = p.split_first()?;
        Some(match fam {
            // On the wire each side is address then port: sip, sport, dip, dport.
            af::INET if r.len() >= 12 => SockTuple::Inet {
                sip: r[0..4].try_into().ok()?,
                sport: rd_u16(r, 4),
                dip: r[6..10].try_into().ok()?,
                dport: rd_u16(r, 10),
            },
            af::INET6 if r.len() >= 36 => SockTuple::Inet6 {
                sip: r[0..16].try_into().ok()?,
                sport: rd_u16(r, 16),
                dip: r[18..34].try_into().ok()?,
                dport: rd_u16(r, 34),
            },
            af::UNIX if r.len() >= 16 => {
                SockTuple::Unix { source: rd_u64(r, 0), dest: rd_u64(r, 8), path: cut_nul(&r[16..]) }
            }
            _ => SockTuple::Other { family: fam, data: r },
        })
    }
}

/// A `PT_FDLIST`: `u16 count` then `count × (u64 fd, u16 flags)`. Iterates `(fd, flags)`.
#[derive(Debug, Clone, Copy)]
pub struct FdList<'a> {
    data: &'a [u8],
    remaining: usize,
}

impl<'a> FdList<'a> {
    pub fn decode(p: &'a [u8]) -> Option<Self> {
        if p.len() < 2 {
            return None;
        }
        let count = rd_u16(p, 0) as usize;
        let avail = (p.len() - 2) / 10;
        Some(FdList { data: &p[2..], remaining: count.min(avail) })
    }
    pub fn count(&self) -> usize {
        self.remaining
    }
}

impl Iterator for FdList<'_> {
    type Item = (u64, u16);
    fn next(&mut self) -> Option<(u64, u16)> {
        if self.remaining == 0 {
            return None;
        }
        let r = (rd_u64(self.data, 0), rd_u16(self.data, 8));
        self.data = &self.data[10..];
        self.remaining -= 1;
        Some(r)
    }
}
