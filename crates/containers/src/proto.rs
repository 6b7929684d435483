//! A minimal protobuf (proto3) wire-format reader and writer, enough for the few runtime messages
//! Harrier reads. Decoding never panics: malformed input is an error or a skipped field.

/// Append a varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Append a length-delimited field (string, bytes or embedded message).
pub fn put_bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Append a varint field.
pub fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_varint(out, u64::from(field) << 3);
    put_varint(out, v);
}

/// One field of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Wire<'a> {
    pub fn bytes(self) -> &'a [u8] {
        match self {
            Wire::Bytes(b) => b,
            _ => &[],
        }
    }
    pub fn string(self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }
    pub fn uint(self) -> u64 {
        match self {
            Wire::Varint(v) | Wire::Fixed64(v) => v,
            Wire::Fixed32(v) => u64::from(v),
            Wire::Bytes(_) => 0,
        }
    }
}

/// Malformed protobuf data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed;

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, Malformed> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(Malformed)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Malformed)
}

/// The fields of a message, in order: `(field number, value)`.
pub fn fields(buf: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, Malformed> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let field = u32::try_from(key >> 3).map_err(|_| Malformed)?;
        let w = match key & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                let b = buf.get(pos..pos + 8).ok_or(Malformed)?;
                pos += 8;
                Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| Malformed)?))
            }
            2 => {
                let n = usize::try_from(varint(buf, &mut pos)?).map_err(|_| Malformed)?;
                let end = pos.checked_add(n).ok_or(Malformed)?;
                let b = buf.get(pos..end).ok_or(Malformed)?;
                pos = end;
                Wire::Bytes(b)
            }
            5 => {
                let b = buf.get(pos..pos + 4).ok_or(Malformed)?;
                pos += 4;
                Wire::Fixed32(u32::from_le_bytes(b.try_into().map_err(|_| Malformed)?))
            }
            _ => return Err(Malformed),
        };
        out.push((field, w));
    }
    Ok(out)
}

/// The first occurrence of `field`.
pub fn get<'a>(fs: &[(u32, Wire<'a>)], field: u32) -> Option<Wire<'a>> {
    fs.iter().find(|(f, _)| *f == field).map(|(_, w)| *w)
}

/// A `map<string, string>` field: every entry (key = 1, value = 2).
pub fn string_map(fs: &[(u32, Wire<'_>)], field: u32) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = fs
        .iter()
        .filter(|(f, _)| *f == field)
        .filter_map(|(_, w)| {
            let e = fields(w.bytes()).ok()?;
            Some((
                get(&e, 1).map(Wire::string).unwrap_or_default(),
                get(&e, 2).map(Wire::string).unwrap_or_default(),
            ))
        })
        .collect();
    out.sort();
    out
}

/// A `google.protobuf.Timestamp` (seconds = 1, nanos = 2) as ns since the epoch.
pub fn timestamp_ns(w: Option<Wire<'_>>) -> u64 {
    let Some(w) = w else { return 0 };
    let Ok(fs) = fields(w.bytes()) else { return 0 };
    let secs = get(&fs, 1).map(Wire::uint).unwrap_or(0);
    let nanos = get(&fs, 2).map(Wire::uint).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed() {
        let mut inner = Vec::new();
        put_bytes(&mut inner, 1, b"k");
        put_bytes(&mut inner, 2, b"v");
        let mut m = Vec::new();
        put_bytes(&mut m, 1, b"abc");
        put_bytes(&mut m, 2, &inner);
        put_uint(&mut m, 3, 300);
        let fs = fields(&m).unwrap();
        assert_eq!(get(&fs, 1).unwrap().string(), "abc");
        assert_eq!(get(&fs, 3).unwrap().uint(), 300);
        assert_eq!(string_map(&fs, 2), vec![("k".to_string(), "v".to_string())]);
        for cut in 0..m.len() {
            let _ = fields(&m[..cut]);
        }
        assert!(fields(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(fields(&[0x0f]).is_err());
    }
}
