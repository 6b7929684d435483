//! Capture writer: SHB 1.2, MI, IL_V2, UL_V2, PL_V9, FDL_V2 per thread, then EV_V2/EVF_V2 (and LARGE) blocks.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use harrier_event::Event;

use crate::block::*;
use crate::error::ScapError;
use crate::meta::*;
use crate::parse::{MAX_ARGS, MAX_CRED, MAX_ENV, MAX_PATH};

/// Writer options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// gzip-compress the whole file (libscap reads it transparently).
    pub gzip: bool,
    /// gzip level 0..=9.
    pub level: u32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { gzip: false, level: 6 }
    }
}

enum Sink {
    Plain(BufWriter<Box<dyn Write + Send>>),
    Gz(GzEncoder<BufWriter<Box<dyn Write + Send>>>),
}

impl Sink {
    fn w(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Gz(w) => w,
        }
    }
}

/// Writes a capture. Call [`Writer::write_header`] once (optional: a bare section header is written
/// otherwise), then [`Writer::write_event`] per event, then [`Writer::finish`].
pub struct Writer {
    sink: Option<Sink>,
    body: Vec<u8>,
    offset: u64,
    header_done: bool,
    events: u64,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}
/// u16 length + bytes, truncated to `max`.
fn put_lbytes(b: &mut Vec<u8>, s: &[u8], max: usize) {
    let s = &s[..s.len().min(max).min(u16::MAX as usize)];
    put_u16(b, s.len() as u16);
    b.extend_from_slice(s);
}
fn put_list(b: &mut Vec<u8>, items: &[String], max: usize, tmp: &mut Vec<u8>) {
    tmp.clear();
    for s in items {
        tmp.extend_from_slice(s.as_bytes());
        tmp.push(0);
    }
    put_lbytes(b, tmp, max);
}

impl Writer {
    /// Create (truncate) a capture file.
    pub fn create(path: impl AsRef<Path>, opts: WriterOptions) -> Result<Self, ScapError> {
        let f = File::create(path.as_ref()).map_err(|e| ScapError::Io { offset: 0, source: e })?;
        Ok(Self::new(f, opts))
    }

    /// Write a capture into any byte sink.
    pub fn new(w: impl Write + Send + 'static, opts: WriterOptions) -> Self {
        let bw = BufWriter::with_capacity(256 << 10, Box::new(w) as Box<dyn Write + Send>);
        let sink = if opts.gzip {
            Sink::Gz(GzEncoder::new(bw, Compression::new(opts.level.min(9))))
        } else {
            Sink::Plain(bw)
        };
        Writer { sink: Some(sink), body: Vec::with_capacity(4096), offset: 0, header_done: false, events: 0 }
    }

    /// Events written so far.
    pub fn events_written(&self) -> u64 {
        self.events
    }

    /// Uncompressed bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.offset
    }

    fn io(&self, e: std::io::Error) -> ScapError {
        ScapError::Io { offset: self.offset, source: e }
    }

    fn emit(&mut self, parts: &[&[u8]]) -> Result<(), ScapError> {
        let off = self.offset;
        let w = self.sink.as_mut().ok_or_else(|| ScapError::Io {
            offset: off,
            source: std::io::Error::other("writer already finished"),
        })?;
        let mut n = 0;
        for p in parts {
            if let Err(e) = w.w().write_all(p) {
                return Err(ScapError::Io { offset: off + n, source: e });
            }
            n += p.len() as u64;
        }
        self.offset += n;
        Ok(())
    }

    /// Write one block with the body currently in `self.body`.
    fn block(&mut self, btype: u32) -> Result<(), ScapError> {
        let body = std::mem::take(&mut self.body);
        let r = self.block_with(btype, &[&body]);
        self.body = body;
        self.body.clear();
        r
    }

    fn block_with(&mut self, btype: u32, body: &[&[u8]]) -> Result<(), ScapError> {
        let blen: usize = body.iter().map(|b| b.len()).sum();
        let total = 8 + blen + pad4(blen) + 4;
        if total > MAX_BLOCK_LEN as usize {
            return Err(ScapError::Corrupt {
                offset: self.offset,
                what: format!("{} block of {total} bytes exceeds the format limit", block_name(btype)),
            });
        }
        let total = total as u32;
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&btype.to_le_bytes());
        head[4..].copy_from_slice(&total.to_le_bytes());
        self.emit(&[&head])?;
        self.emit(body)?;
        self.emit(&[&[0u8; 3][..pad4(blen)], &total.to_le_bytes()])
    }

    fn write_shb(&mut self, shb: Option<&SectionHeader>) -> Result<(), ScapError> {
        self.body.clear();
        put_u32(&mut self.body, SHB_MAGIC);
        put_u16(&mut self.body, SHB_MAJOR);
        put_u16(&mut self.body, SHB_MINOR);
        put_u64(&mut self.body, u64::MAX); // section_length = -1
        if let Some(s) = shb {
            self.body.extend_from_slice(&s.options);
        }
        self.block(SHB)?;
        self.header_done = true;
        Ok(())
    }

    /// Write the section header and all metadata blocks.
    pub fn write_header(&mut self, h: &Header) -> Result<(), ScapError> {
        if self.header_done {
            return Err(ScapError::Corrupt { offset: self.offset, what: "header written twice".into() });
        }
        self.write_shb(Some(&h.section))?;
        if let Some(m) = &h.machine {
            let b = &mut self.body;
            b.clear();
            put_u32(b, m.num_cpus);
            put_u64(b, m.memory_size_bytes);
            put_u64(b, m.max_pid);
            let mut host = [0u8; 128];
            let hb = m.hostname.as_bytes();
            let n = hb.len().min(127);
            host[..n].copy_from_slice(&hb[..n]);
            b.extend_from_slice(&host);
            put_u64(b, m.boot_ts_epoch);
            put_u64(b, m.flags);
            put_u64(b, m.reserved3);
            put_u64(b, m.reserved4);
            debug_assert_eq!(b.len(), MI_LEN);
            self.block(MI)?;
        }
        if !h.interfaces.is_empty() {
            self.body.clear();
            for i in &h.interfaces {
                let b = &mut self.body;
                let at = b.len();
                put_u32(b, 0);
                // IPv4 entries are types 1/3, IPv6 2/4 (with / without a link speed).
                let (types, name, addr, netmask, bcast, linkspeed): ((u16, u16), _, &[u8], &[u8], &[u8], _) =
                    match i {
                        Interface::V4 { name, addr, netmask, bcast, linkspeed } => {
                            ((1, 3), name, addr, netmask, bcast, linkspeed)
                        }
                        Interface::V6 { name, addr, netmask, bcast, linkspeed } => {
                            ((2, 4), name, addr, netmask, bcast, linkspeed)
                        }
                    };
                put_u16(b, if linkspeed.is_some() { types.0 } else { types.1 });
                let nm = &name.as_bytes()[..name.len().min(MAX_PATH)];
                put_u16(b, nm.len() as u16);
                b.extend_from_slice(addr);
                b.extend_from_slice(netmask);
                b.extend_from_slice(bcast);
                if let Some(l) = linkspeed {
                    put_u64(b, *l);
                }
                b.extend_from_slice(nm);
                let el = (b.len() - at - 4) as u32; // excludes itself
                b[at..at + 4].copy_from_slice(&el.to_le_bytes());
            }
            self.block(IL_V2)?;
        }
        if !h.users.is_empty() || !h.groups.is_empty() {
            self.body.clear();
            for u in &h.users {
                let b = &mut self.body;
                let at = b.len();
                put_u32(b, 0);
                b.push(0);
                put_u32(b, u.uid);
                put_u32(b, u.gid);
                put_lbytes(b, u.name.as_bytes(), MAX_CRED - 1);
                put_lbytes(b, u.homedir.as_bytes(), MAX_CRED - 1);
                put_lbytes(b, u.shell.as_bytes(), MAX_CRED - 1);
                let el = (b.len() - at) as u32; // includes itself
                b[at..at + 4].copy_from_slice(&el.to_le_bytes());
            }
            for g in &h.groups {
                let b = &mut self.body;
                let at = b.len();
                put_u32(b, 0);
                b.push(1);
                put_u32(b, g.gid);
                put_lbytes(b, g.name.as_bytes(), MAX_CRED - 1);
                let el = (b.len() - at) as u32;
                b[at..at + 4].copy_from_slice(&el.to_le_bytes());
            }
            self.block(UL_V2)?;
        }
        if !h.threads.is_empty() {
            self.body.clear();
            let mut tmp = Vec::new();
            for t in &h.threads {
                let b = &mut self.body;
                let at = b.len();
                put_u32(b, 0);
                put_u64(b, t.tid);
                put_u64(b, t.pid);
                put_u64(b, t.ptid);
                put_u64(b, t.sid);
                put_u64(b, t.vpgid);
                put_lbytes(b, t.comm.as_bytes(), MAX_PATH);
                put_lbytes(b, t.exe.as_bytes(), MAX_PATH);
                put_lbytes(b, t.exepath.as_bytes(), MAX_PATH);
                put_list(b, &t.args, MAX_ARGS, &mut tmp);
                put_lbytes(b, t.cwd.as_bytes(), MAX_PATH);
                put_u64(b, t.fdlimit);
                put_u32(b, t.flags);
                put_u32(b, t.uid);
                put_u32(b, t.gid);
                put_u32(b, t.vmsize_kb);
                put_u32(b, t.vmrss_kb);
                put_u32(b, t.vmswap_kb);
                put_u64(b, t.pfmajor);
                put_u64(b, t.pfminor);
                put_list(b, &t.env, MAX_ENV, &mut tmp);
                put_u64(b, t.vtid as u64);
                put_u64(b, t.vpid as u64);
                put_list(b, &t.cgroups, MAX_ENV, &mut tmp);
                put_lbytes(b, t.root.as_bytes(), MAX_PATH);
                put_u64(b, t.pidns_init_start_ts);
                put_u32(b, t.tty);
                put_u32(b, t.loginuid);
                b.push(t.exe_writable as u8);
                put_u64(b, t.cap_inheritable);
                put_u64(b, t.cap_permitted);
                put_u64(b, t.cap_effective);
                b.push(t.exe_upper_layer as u8);
                put_u64(b, t.exe_ino);
                put_u64(b, t.exe_ino_ctime);
                put_u64(b, t.exe_ino_mtime);
                b.push(t.exe_from_memfd as u8);
                b.push(t.exe_lower_layer as u8);
                put_u64(b, t.pgid as u64);
                let el = (b.len() - at) as u32; // includes itself
                b[at..at + 4].copy_from_slice(&el.to_le_bytes());
            }
            self.block(PL_V9)?;
        }
        for ft in &h.fd_tables {
            self.body.clear();
            put_u64(&mut self.body, ft.tid);
            for fd in &ft.fds {
                let b = &mut self.body;
                let at = b.len();
                put_u32(b, 0);
                put_u64(b, fd.fd as u64);
                put_u64(b, fd.ino);
                // fd types newer than FILE_V2 (bpf, userfaultfd, io_uring, memfd, pidfd) are
                // written as UNSUPPORTED with their name, so that older readers such as
                // sysdig 0.29, which reject unknown types, still read the file.
                let t = fd.fd_type();
                b.push(if t > harrier_event::consts::fd_type::FILE_V2 {
                    harrier_event::consts::fd_type::UNSUPPORTED
                } else {
                    t
                });
                match &fd.kind {
                    FdKind::Ipv4Sock { sip, dip, sport, dport, l4proto } => {
                        b.extend_from_slice(sip);
                        b.extend_from_slice(dip);
                        put_u16(b, *sport);
                        put_u16(b, *dport);
                        b.push(*l4proto);
                    }
                    FdKind::Ipv4ServSock { ip, port, l4proto } => {
                        b.extend_from_slice(ip);
                        put_u16(b, *port);
                        b.push(*l4proto);
                    }
                    FdKind::Ipv6Sock { sip, dip, sport, dport, l4proto } => {
                        b.extend_from_slice(sip);
                        b.extend_from_slice(dip);
                        put_u16(b, *sport);
                        put_u16(b, *dport);
                        b.push(*l4proto);
                    }
                    FdKind::Ipv6ServSock { ip, port, l4proto } => {
                        b.extend_from_slice(ip);
                        put_u16(b, *port);
                        b.push(*l4proto);
                    }
                    FdKind::UnixSock { source, dest, path } => {
                        put_u64(b, *source);
                        put_u64(b, *dest);
                        put_lbytes(b, path.as_bytes(), MAX_PATH);
                    }
                    FdKind::File { open_flags, path, dev } => {
                        put_u32(b, *open_flags);
                        put_lbytes(b, path.as_bytes(), MAX_PATH);
                        if let Some(d) = dev {
                            put_u32(b, *d);
                        }
                    }
                    FdKind::Named { name, .. } => put_lbytes(b, name.as_bytes(), MAX_PATH),
                }
                let el = (b.len() - at) as u32; // includes itself
                b[at..at + 4].copy_from_slice(&el.to_le_bytes());
            }
            self.block(FDL_V2)?;
        }
        Ok(())
    }

    /// Write one event (its raw bytes are copied through), as EV_V2 or EVF_V2 (flags ≠ 0), LARGE variants
    /// for `EF_LARGE_PAYLOAD` types.
    pub fn write_event(&mut self, ev: &Event<'_>) -> Result<(), ScapError> {
        if !self.header_done {
            self.write_shb(None)?;
        }
        let flags = ev.flags();
        let btype = match (flags != 0, ev.is_large()) {
            (false, false) => EV_V2,
            (false, true) => EV_V2_LARGE,
            (true, false) => EVF_V2,
            (true, true) => EVF_V2_LARGE,
        };
        let cpu = ev.cpu().to_le_bytes();
        let fl = flags.to_le_bytes();
        let r = if flags != 0 {
            self.block_with(btype, &[&cpu, &fl, ev.raw()])
        } else {
            self.block_with(btype, &[&cpu, ev.raw()])
        };
        if r.is_ok() {
            self.events += 1;
        }
        r
    }

    /// Flush (and finish the gzip stream). Must be called; dropping without it may lose the tail.
    pub fn finish(mut self) -> Result<(), ScapError> {
        if !self.header_done {
            self.write_shb(None)?;
        }
        match self.sink.take() {
            Some(Sink::Plain(mut w)) => w.flush().map_err(|e| self.io(e)),
            Some(Sink::Gz(g)) => {
                let mut w = g.finish().map_err(|e| self.io(e))?;
                w.flush().map_err(|e| self.io(e))
            }
            None => Ok(()),
        }
    }
}
