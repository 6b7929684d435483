//! Errors of the capture reader and writer.

use std::fmt;

/// A capture could not be read or written. Offsets are in the decompressed stream.
#[derive(Debug)]
pub enum ScapError {
    /// I/O error from the underlying reader or writer.
    Io { offset: u64, source: std::io::Error },
    /// The input ended in the middle of something.
    Truncated { offset: u64, what: String },
    /// The input is structurally wrong.
    Corrupt { offset: u64, what: String },
    /// The section header magic is not 0x1A2B3C4D (or the first block is no section header).
    BadMagic { offset: u64, found: u32 },
    /// Unsupported section header version.
    Version { offset: u64, major: u16, minor: u16 },
    /// The file has no event block.
    NoEvents,
}

impl ScapError {
    /// Byte offset (decompressed) where the problem was found.
    pub fn offset(&self) -> Option<u64> {
        match self {
            ScapError::Io { offset, .. }
            | ScapError::Truncated { offset, .. }
            | ScapError::Corrupt { offset, .. }
            | ScapError::BadMagic { offset, .. }
            | ScapError::Version { offset, .. } => Some(*offset),
            ScapError::NoEvents => None,
        }
    }
}

impl fmt::Display for ScapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScapError::Io { offset, source } => write!(f, "I/O error at byte {offset}: {source}"),
            ScapError::Truncated { offset, what } => {
                write!(f, "capture truncated at byte {offset} while reading {what}")
            }
            ScapError::Corrupt { offset, what } => write!(f, "corrupt capture at byte {offset}: {what}"),
            ScapError::BadMagic { offset, found } => write!(
                f,
                "not a scap capture: bad section header magic 0x{found:08x} at byte {offset} (expected 0x1a2b3c4d)"
            ),
            ScapError::Version { offset, major, minor } => {
                write!(f, "unsupported capture version {major}.{minor} at byte {offset}")
            }
            ScapError::NoEvents => write!(f, "no events in file"),
        }
    }
}

impl std::error::Error for ScapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScapError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
