//! The encoder's weight blob: a 56-byte header, then the weights, with a CRC-32 of the
//! weights in the header. Built on the host from the model file (the Python side reads the
//! ONNX or safetensors file); the layout is fixed by the header's dimensions, so every
//! length is known before anything is read and a damaged blob is an [`EncoderError`].
//!
//! Header (little endian):
//!
//! | offset | field                                                    |
//! |--------|----------------------------------------------------------|
//! | 0      | magic `RVENCODE`                                         |
//! | 8      | u32 version (1)                                          |
//! | 12     | u32 precision: 1 int8 weights, 2 float32 weights         |
//! | 16     | u32 vocabulary size                                      |
//! | 20     | u32 positions (most tokens one text may have)            |
//! | 24     | u32 hidden size                                          |
//! | 28     | u32 attention heads (divides the hidden size)            |
//! | 32     | u32 feed-forward size                                    |
//! | 36     | u32 layers                                               |
//! | 40     | f32 LayerNorm epsilon                                    |
//! | 44     | u32 CRC-32 of the payload                                |
//! | 48     | u64 payload length in bytes                              |
//!
//! Payload, in order. A *table* (word or position embeddings) is, for int8, its codes
//! (rows x hidden i8) then one f32 scale per row; for float32 its values (rows x hidden f32).
//! A *linear* layer of `in -> out` is its weights stored output-major (`out` rows of `in`),
//! for int8 as i8 codes then one f32 scale per output, for float32 as f32; then its f32
//! bias (`out`). `ln` is a LayerNorm's f32 gain then f32 bias (hidden each).
//!
//! word table, position table, token type 0 embedding (hidden f32), embeddings ln; then per
//! layer: query, key, value, attention output (hidden -> hidden), attention ln, intermediate
//! (hidden -> ff), output (ff -> hidden), output ln.

use std::fmt;

use crate::crc32::crc32;

pub const MAGIC: &[u8; 8] = b"RVENCODE";
pub const VERSION: u32 = 1;
pub const HEADER_LEN: usize = 56;

const MAX_VOCAB: u32 = 1 << 20;
const MAX_POSITIONS: u32 = 8192;
const MAX_HIDDEN: u32 = 4096;
const MAX_HEADS: u32 = 64;
const MAX_FF: u32 = 16384;
const MAX_LAYERS: u32 = 64;

/// How the weights are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// int8 codes with one scale per output (per row for tables).
    Int8,
    /// float32 values.
    F32,
}

/// The model's dimensions, as the header declares them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dims {
    pub precision: Precision,
    pub vocab: usize,
    pub positions: usize,
    pub hidden: usize,
    pub heads: usize,
    pub ff: usize,
    pub layers: usize,
    pub eps: f32,
}

/// Why a blob or an input was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncoderError {
    /// The blob does not start with `RVENCODE` or is shorter than its header.
    NotABlob,
    /// The blob's version is not one this build reads.
    Version(u32),
    /// A header field is out of range.
    Header(&'static str),
    /// The blob's length disagrees with the one its header implies.
    Length { expected: u64, actual: u64 },
    /// The payload's CRC-32 differs from the header's.
    Checksum { expected: u32, actual: u32 },
    /// A weight is NaN or infinite.
    NotFinite(&'static str),
    /// A token id is not below the vocabulary size.
    Token { id: u32, vocab: usize },
    /// A text has more tokens than the model has positions, or none.
    TextLength { tokens: usize, positions: usize },
    /// The token count disagrees with the sum of the lengths.
    Lengths { tokens: usize, sum: u64 },
}

impl fmt::Display for EncoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncoderError::NotABlob => write!(f, "not an encoder weight blob (no RVENCODE header)"),
            EncoderError::Version(v) => {
                write!(f, "encoder blob version {} is not supported (this build reads {})", v, VERSION)
            }
            EncoderError::Header(what) => write!(f, "encoder blob header: {}", what),
            EncoderError::Length { expected, actual } => {
                write!(f, "encoder blob is {} bytes, its header implies {}", actual, expected)
            }
            EncoderError::Checksum { expected, actual } => {
                write!(f, "encoder blob weights are damaged: CRC-32 {:08x}, header says {:08x}", actual, expected)
            }
            EncoderError::NotFinite(what) => write!(f, "encoder blob: {} holds NaN or infinite values", what),
            EncoderError::Token { id, vocab } => {
                write!(f, "token id {} is not below the vocabulary size {}", id, vocab)
            }
            EncoderError::TextLength { tokens, positions } => {
                write!(f, "a text has {} tokens; the model takes 1 to {}", tokens, positions)
            }
            EncoderError::Lengths { tokens, sum } => {
                write!(f, "{} tokens given but the text lengths add up to {}", tokens, sum)
            }
        }
    }
}

impl std::error::Error for EncoderError {}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

fn limited(value: u32, low: u32, high: u32, what: &'static str) -> Result<usize, EncoderError> {
    if value < low || value > high {
        return Err(EncoderError::Header(what));
    }
    Ok(value as usize)
}

/// The dimensions the header declares, checked for range; `data` may be only the header.
pub fn read_dims(data: &[u8]) -> Result<Dims, EncoderError> {
    if data.len() < HEADER_LEN || &data[..8] != MAGIC {
        return Err(EncoderError::NotABlob);
    }
    let version = u32_at(data, 8);
    if version != VERSION {
        return Err(EncoderError::Version(version));
    }
    let precision = match u32_at(data, 12) {
        1 => Precision::Int8,
        2 => Precision::F32,
        _ => return Err(EncoderError::Header("precision is neither 1 (int8) nor 2 (float32)")),
    };
    let hidden = limited(u32_at(data, 24), 1, MAX_HIDDEN, "hidden size out of range")?;
    let heads = limited(u32_at(data, 28), 1, MAX_HEADS, "head count out of range")?;
    if hidden % heads != 0 {
        return Err(EncoderError::Header("the head count does not divide the hidden size"));
    }
    let eps = f32::from_bits(u32_at(data, 40));
    if !(eps.is_finite() && eps > 0.0 && eps < 1.0) {
        return Err(EncoderError::Header("LayerNorm epsilon is not in (0, 1)"));
    }
    Ok(Dims {
        precision,
        vocab: limited(u32_at(data, 16), 1, MAX_VOCAB, "vocabulary size out of range")?,
        positions: limited(u32_at(data, 20), 1, MAX_POSITIONS, "position count out of range")?,
        hidden,
        heads,
        ff: limited(u32_at(data, 32), 1, MAX_FF, "feed-forward size out of range")?,
        layers: limited(u32_at(data, 36), 1, MAX_LAYERS, "layer count out of range")?,
        eps,
    })
}

impl Dims {
    /// Bytes of a table of `rows` rows.
    fn table_bytes(&self, rows: usize) -> u64 {
        let n = (rows * self.hidden) as u64;
        match self.precision {
            Precision::Int8 => n + 4 * rows as u64,
            Precision::F32 => 4 * n,
        }
    }

    /// Bytes of a linear layer `inp -> out`, bias included.
    fn linear_bytes(&self, inp: usize, out: usize) -> u64 {
        let n = (inp * out) as u64;
        let weights = match self.precision {
            Precision::Int8 => n + 4 * out as u64,
            Precision::F32 => 4 * n,
        };
        weights + 4 * out as u64
    }

    /// The payload length these dimensions imply (the limits keep it far below u64::MAX).
    pub fn payload_bytes(&self) -> u64 {
        let h = self.hidden;
        let ln = 8 * h as u64;
        let layer =
            4 * self.linear_bytes(h, h) + self.linear_bytes(h, self.ff) + self.linear_bytes(self.ff, h) + 2 * ln;
        self.table_bytes(self.vocab) + self.table_bytes(self.positions) + 4 * h as u64 + ln + self.layers as u64 * layer
    }
}

/// Checks the whole blob (header, length, CRC) and returns its dimensions and payload.
pub fn validate(data: &[u8]) -> Result<(Dims, &[u8]), EncoderError> {
    let dims = read_dims(data)?;
    let declared = u64::from_le_bytes([data[48], data[49], data[50], data[51], data[52], data[53], data[54], data[55]]);
    let expected = dims.payload_bytes();
    if declared != expected {
        return Err(EncoderError::Header("payload length disagrees with the dimensions"));
    }
    let actual = (data.len() - HEADER_LEN) as u64;
    if actual != expected {
        return Err(EncoderError::Length { expected: expected + HEADER_LEN as u64, actual: data.len() as u64 });
    }
    let payload = &data[HEADER_LEN..];
    let crc = crc32(payload);
    if crc != u32_at(data, 44) {
        return Err(EncoderError::Checksum { expected: u32_at(data, 44), actual: crc });
    }
    Ok((dims, payload))
}

/// Reads the payload front to back; lengths were checked by [`validate`], so `take` only
/// guards against a logic error with a typed error rather than a panic.
pub struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], EncoderError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let part = &self.data[self.at..end];
                self.at = end;
                Ok(part)
            }
            None => Err(EncoderError::Length { expected: (self.at + n) as u64, actual: self.data.len() as u64 }),
        }
    }

    pub fn i8s(&mut self, n: usize) -> Result<Vec<i8>, EncoderError> {
        Ok(self.take(n)?.iter().map(|&b| b as i8).collect())
    }

    pub fn f32s(&mut self, n: usize, what: &'static str) -> Result<Vec<f32>, EncoderError> {
        let bytes = self.take(4 * n)?;
        let values: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(EncoderError::NotFinite(what));
        }
        Ok(values)
    }

    pub fn finished(&self) -> bool {
        self.at == self.data.len()
    }
}
