//! Block type ids and limits of the capture format.

pub const SHB: u32 = 0x0A0D_0D0A;
pub const SHB_MAGIC: u32 = 0x1A2B_3C4D;
pub const SHB_MAJOR: u16 = 1;
pub const SHB_MINOR: u16 = 2;

pub const MI: u32 = 0x201;
pub const MI_LEGACY: u32 = 0x8002_ABCD;

pub const PL_V1: u32 = 0x202;
pub const PL_V1_LEGACY: u32 = 0x8000_ABCD;
pub const PL_V2: u32 = 0x207;
pub const PL_V2_LEGACY: u32 = 0x8013_ABCD;
pub const PL_V3: u32 = 0x209;
pub const PL_V3_LEGACY: u32 = 0x8014_ABCD;
pub const PL_V4: u32 = 0x210;
pub const PL_V5: u32 = 0x211;
pub const PL_V6: u32 = 0x212;
pub const PL_V7: u32 = 0x213;
pub const PL_V8: u32 = 0x214;
pub const PL_V9: u32 = 0x215;

pub const FDL_V1: u32 = 0x203;
pub const FDL_V1_LEGACY: u32 = 0x8001_ABCD;
pub const FDL_V2: u32 = 0x218;

pub const EV: u32 = 0x204;
pub const EV_LEGACY: u32 = 0x8010_ABCD;
pub const EV_V2: u32 = 0x216;
pub const EV_V2_LARGE: u32 = 0x221;
pub const EVF: u32 = 0x208;
pub const EVF_V2: u32 = 0x217;
pub const EVF_V2_LARGE: u32 = 0x222;

pub const IL_V1: u32 = 0x205;
pub const IL_V1_LEGACY: u32 = 0x8011_ABCD;
pub const IL_V2: u32 = 0x219;

pub const UL_V1: u32 = 0x206;
pub const UL_V1_LEGACY: u32 = 0x8012_ABCD;
pub const UL_V2: u32 = 0x220;

/// Largest block accepted (length fields beyond this are treated as corruption).
pub const MAX_BLOCK_LEN: u32 = 64 << 20;
/// Machine info body size.
pub const MI_LEN: usize = 180;

/// PL version of a process-list block type.
pub fn pl_version(t: u32) -> Option<u8> {
    Some(match t {
        PL_V1 | PL_V1_LEGACY => 1,
        PL_V2 | PL_V2_LEGACY => 2,
        PL_V3 | PL_V3_LEGACY => 3,
        PL_V4 => 4,
        PL_V5 => 5,
        PL_V6 => 6,
        PL_V7 => 7,
        PL_V8 => 8,
        PL_V9 => 9,
        _ => return None,
    })
}

/// Event block kinds: (has flags, V2 header with nparams).
pub fn event_block(t: u32) -> Option<(bool, bool)> {
    Some(match t {
        EV | EV_LEGACY => (false, false),
        EVF => (true, false),
        EV_V2 | EV_V2_LARGE => (false, true),
        EVF_V2 | EVF_V2_LARGE => (true, true),
        _ => return None,
    })
}

/// A short human name for a block type (for errors and warnings).
pub fn block_name(t: u32) -> &'static str {
    match t {
        SHB => "section header",
        MI | MI_LEGACY => "machine info",
        FDL_V1 | FDL_V1_LEGACY | FDL_V2 => "fd list",
        IL_V1 | IL_V1_LEGACY | IL_V2 => "interface list",
        UL_V1 | UL_V1_LEGACY | UL_V2 => "user list",
        t if pl_version(t).is_some() => "process list",
        t if event_block(t).is_some() => "event",
        _ => "unknown block",
    }
}
