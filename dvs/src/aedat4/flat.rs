//! A minimal, bounds-checked FlatBuffers table reader for the few AEDAT 4.0 tables.
//!
//! Every offset read from the buffer is checked against its length, so hostile bytes give a
//! [`FlatError`], never a panic or an out-of-bounds read. Only what the AEDAT 4.0 schemas use
//! is here: scalar fields, strings and vectors of fixed-size structs.

/// Why a buffer is not a valid FlatBuffer of the expected shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlatError {
    /// An offset or length points outside the buffer.
    #[error("offset {0} outside the buffer")]
    OutOfBounds(usize),
    /// The 4-byte file identifier differs from the expected one.
    #[error("file identifier {found:?}, expected {expected:?}")]
    Identifier {
        /// What the buffer says.
        found: [u8; 4],
        /// What the caller expected.
        expected: [u8; 4],
    },
    /// A string is not UTF-8.
    #[error("string is not UTF-8")]
    Utf8,
}

fn bytes<const N: usize>(buf: &[u8], at: usize) -> Result<[u8; N], FlatError> {
    at.checked_add(N)
        .and_then(|end| buf.get(at..end))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(FlatError::OutOfBounds(at))
}

pub(crate) fn u16_at(buf: &[u8], at: usize) -> Result<u16, FlatError> {
    bytes::<2>(buf, at).map(u16::from_le_bytes)
}

pub(crate) fn u32_at(buf: &[u8], at: usize) -> Result<u32, FlatError> {
    bytes::<4>(buf, at).map(u32::from_le_bytes)
}

pub(crate) fn i32_at(buf: &[u8], at: usize) -> Result<i32, FlatError> {
    bytes::<4>(buf, at).map(i32::from_le_bytes)
}

pub(crate) fn i64_at(buf: &[u8], at: usize) -> Result<i64, FlatError> {
    bytes::<8>(buf, at).map(i64::from_le_bytes)
}

/// Follows the unsigned offset stored at `at` (relative to `at`).
fn follow(buf: &[u8], at: usize) -> Result<usize, FlatError> {
    let off = u32_at(buf, at)? as usize;
    at.checked_add(off)
        .filter(|&p| p < buf.len())
        .ok_or(FlatError::OutOfBounds(at))
}

/// A table inside a buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a (not size-prefixed) buffer, checking its file identifier.
    pub(crate) fn root(buf: &'a [u8], identifier: &[u8; 4]) -> Result<Self, FlatError> {
        let found = bytes::<4>(buf, 4)?;
        if &found != identifier {
            return Err(FlatError::Identifier {
                found,
                expected: *identifier,
            });
        }
        Self::at(buf, follow(buf, 0)?)
    }

    /// The table at `pos`.
    fn at(buf: &'a [u8], pos: usize) -> Result<Self, FlatError> {
        // The table starts with a signed offset *back* to its vtable: vtable = pos - soffset.
        let soffset = i64::from(i32_at(buf, pos)?);
        let vtable = i64::try_from(pos)
            .ok()
            .and_then(|p| p.checked_sub(soffset))
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(FlatError::OutOfBounds(pos))?;
        let vtable_len = usize::from(u16_at(buf, vtable)?);
        if vtable_len < 4 || vtable.checked_add(vtable_len).is_none_or(|e| e > buf.len()) {
            return Err(FlatError::OutOfBounds(vtable));
        }
        Ok(Self {
            buf,
            pos,
            vtable,
            vtable_len,
        })
    }

    /// Absolute position of field `slot` (0-based), if present.
    fn field(&self, slot: usize) -> Result<Option<usize>, FlatError> {
        let entry = 4 + 2 * slot;
        if entry + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = usize::from(u16_at(self.buf, self.vtable + entry)?);
        if off == 0 {
            return Ok(None);
        }
        Ok(Some(self.pos + off))
    }

    pub(crate) fn i32_or(&self, slot: usize, default: i32) -> Result<i32, FlatError> {
        self.field(slot)?
            .map_or(Ok(default), |at| i32_at(self.buf, at))
    }

    pub(crate) fn i64_or(&self, slot: usize, default: i64) -> Result<i64, FlatError> {
        self.field(slot)?
            .map_or(Ok(default), |at| i64_at(self.buf, at))
    }

    /// The bytes of a vector of `elem`-byte elements (empty when the field is absent).
    pub(crate) fn vector(&self, slot: usize, elem: usize) -> Result<&'a [u8], FlatError> {
        let Some(at) = self.field(slot)? else {
            return Ok(&[]);
        };
        let start = follow(self.buf, at)?;
        let len = u32_at(self.buf, start)? as usize;
        let body = start + 4;
        len.checked_mul(elem)
            .and_then(|n| body.checked_add(n))
            .and_then(|end| self.buf.get(body..end))
            .ok_or(FlatError::OutOfBounds(start))
    }

    /// A string field (empty when absent).
    pub(crate) fn string(&self, slot: usize) -> Result<&'a str, FlatError> {
        core::str::from_utf8(self.vector(slot, 1)?).map_err(|_| FlatError::Utf8)
    }
}

/// The flatbuffer inside a size-prefixed buffer (`u32` length, then the buffer).
pub(crate) fn size_prefixed(buf: &[u8]) -> Result<&[u8], FlatError> {
    let len = u32_at(buf, 0)? as usize;
    len.checked_add(4)
        .and_then(|end| buf.get(4..end))
        .ok_or(FlatError::OutOfBounds(0))
}
