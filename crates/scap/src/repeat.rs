//! Make large captures from small ones: keep the header blocks and repeat the event blocks with
//! shifted timestamps (for benchmarks and load tests).

/// Repeat the event blocks of an uncompressed capture `repeats` times. Returns the new capture
/// and its number of events. Malformed input stops the walk at the first bad block.
pub fn repeat_events(src: &[u8], repeats: usize) -> (Vec<u8>, u64) {
    let mut head = Vec::new();
    let mut evs: Vec<&[u8]> = Vec::new();
    let mut o = 0;
    while o + 12 <= src.len() {
        let t = u32::from_le_bytes(src[o..o + 4].try_into().unwrap_or_default());
        let l = u32::from_le_bytes(src[o + 4..o + 8].try_into().unwrap_or_default()) as usize;
        if l < 12 || o + l > src.len() {
            break;
        }
        let b = &src[o..o + l];
        // An event block is at least header(8) + cpu(2) + flags(4) + ts(8) + trailer(4) long.
        if matches!(t, 0x204 | 0x216 | 0x221 | 0x208 | 0x217 | 0x222) && l >= 26 {
            evs.push(b);
        } else {
            head.extend_from_slice(b);
        }
        o += l;
    }
    let ts_off = |b: &[u8]| {
        let flagged = matches!(b[..4], [0x08, 0x02, 0, 0] | [0x17, 0x02, 0, 0] | [0x22, 0x02, 0, 0]);
        8 + if flagged { 6 } else { 2 }
    };
    let read_ts = |b: &[u8]| {
        let p = ts_off(b);
        u64::from_le_bytes(b[p..p + 8].try_into().unwrap_or_default())
    };
    let (Some(min), Some(max)) = (evs.iter().map(|b| read_ts(b)).min(), evs.iter().map(|b| read_ts(b)).max())
    else {
        return (head, 0);
    };
    let span = max - min + 1000;
    let mut out = head;
    for i in 0..repeats {
        for b in &evs {
            let p = ts_off(b);
            let t = read_ts(b) + i as u64 * span;
            out.extend_from_slice(&b[..p]);
            out.extend_from_slice(&t.to_le_bytes());
            out.extend_from_slice(&b[p + 8..]);
        }
    }
    (out, (evs.len() * repeats) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_events_and_survives_junk() {
        assert_eq!(repeat_events(b"", 3).1, 0);
        assert_eq!(repeat_events(&[0xff; 64], 3).1, 0);
        // A header-ish block followed by one event block (EV_V2, 0x216).
        let mut cap = Vec::new();
        cap.extend_from_slice(&0x0A0D0D0Au32.to_le_bytes());
        cap.extend_from_slice(&28u32.to_le_bytes());
        cap.extend_from_slice(&[0; 16]);
        cap.extend_from_slice(&28u32.to_le_bytes());
        let mut ev = Vec::new();
        ev.extend_from_slice(&0x216u32.to_le_bytes());
        ev.extend_from_slice(&40u32.to_le_bytes());
        ev.extend_from_slice(&0u16.to_le_bytes());
        ev.extend_from_slice(&5u64.to_le_bytes());
        ev.resize(36, 0);
        ev.extend_from_slice(&40u32.to_le_bytes());
        cap.extend_from_slice(&ev);
        let (out, n) = repeat_events(&cap, 3);
        assert_eq!(n, 3);
        assert_eq!(out.len(), 28 + 3 * 40);
        let ts = |k: usize| u64::from_le_bytes(out[28 + k * 40 + 10..28 + k * 40 + 18].try_into().unwrap());
        assert_eq!((ts(0), ts(1), ts(2)), (5, 1005, 2005));
    }
}
