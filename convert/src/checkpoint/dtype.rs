//! Element types a stored tensor may have, and their conversion to `f32`.

/// Element type of a raw little-endian storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DType {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    /// Maps a torch legacy storage class name (`torch.FloatStorage`, ...) to its element type.
    pub(crate) fn from_torch_storage(name: &str) -> Option<Self> {
        Some(match name {
            "DoubleStorage" => Self::F64,
            "FloatStorage" => Self::F32,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    pub(crate) fn from_safetensors(dtype: safetensors::Dtype) -> Option<Self> {
        use safetensors::Dtype as S;
        Some(match dtype {
            S::F64 => Self::F64,
            S::F32 => Self::F32,
            S::F16 => Self::F16,
            S::BF16 => Self::BF16,
            S::I64 => Self::I64,
            S::I32 => Self::I32,
            S::I16 => Self::I16,
            S::I8 => Self::I8,
            S::U8 => Self::U8,
            S::BOOL => Self::Bool,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::F64 => "f64",
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
            Self::I64 => "i64",
            Self::I32 => "i32",
            Self::I16 => "i16",
            Self::I8 => "i8",
            Self::U8 => "u8",
            Self::Bool => "bool",
        }
    }

    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    /// Decodes element `index` of `bytes`; `None` when it lies outside.
    pub(crate) fn read(self, bytes: &[u8], index: usize) -> Option<f32> {
        let size = self.size();
        let start = index.checked_mul(size)?;
        let b = bytes.get(start..start.checked_add(size)?)?;
        Some(self.decode(b))
    }

    /// Decodes one element from exactly `self.size()` little-endian bytes.
    fn decode(self, b: &[u8]) -> f32 {
        // Callers slice exactly `size()` bytes, so the array conversions cannot fail;
        // the fallbacks only keep this function total.
        fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
            b.try_into().unwrap_or([0; N])
        }
        match self {
            // Narrowing to f32 is the point of the reader: the runtime works in f32.
            Self::F64 => f64::from_le_bytes(arr(b)) as f32,
            Self::F32 => f32::from_le_bytes(arr(b)),
            Self::F16 => half::f16::from_le_bytes(arr(b)).to_f32(),
            Self::BF16 => half::bf16::from_le_bytes(arr(b)).to_f32(),
            Self::I64 => i64::from_le_bytes(arr(b)) as f32,
            Self::I32 => i32::from_le_bytes(arr(b)) as f32,
            Self::I16 => f32::from(i16::from_le_bytes(arr(b))),
            Self::I8 => f32::from(i8::from_le_bytes(arr(b))),
            Self::U8 => f32::from(u8::from_le_bytes(arr(b))),
            Self::Bool => f32::from(u8::from(u8::from_le_bytes(arr(b)) != 0)),
        }
    }

    /// Decodes a whole contiguous buffer (its length a multiple of `size()`).
    pub(crate) fn decode_all(self, bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(self.size())
            .map(|b| self.decode(b))
            .collect()
    }
}
