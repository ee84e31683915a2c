//! The sentence encoder's exports: load a weight blob, embed packed token batches. The
//! host tokenizes (`ruvector_textmodel`); conventions are the module's (see `lib.rs`).
//! Encoders are named by small positive handles, like indexes.

use ruvector_kernels::encoder::{Encoder, EncoderError};

use crate::{fail, slice, slice_mut, ERR_BAD_MODEL, ERR_INVALID_INPUT, FAILED, NULL, OK};

// Single-threaded and never re-entered, as the module's other statics.
static mut ENCODERS: Vec<Option<Box<Encoder>>> = Vec::new();

fn encoders() -> &'static mut Vec<Option<Box<Encoder>>> {
    // SAFETY: single-threaded and not re-entered; callers do not keep the reference.
    unsafe { &mut *std::ptr::addr_of_mut!(ENCODERS) }
}

fn encoder(h: i32) -> Option<&'static Encoder> {
    let found = usize::try_from(h).ok().and_then(|i| i.checked_sub(1)).and_then(|i| encoders().get(i));
    match found {
        Some(Some(e)) => Some(e),
        _ => fail(ERR_INVALID_INPUT, format!("no encoder with handle {h}"), None),
    }
}

/// The encoder a weight blob of `len` bytes holds, or [`NULL`] ([`ERR_BAD_MODEL`]) when
/// the blob fails its checks. The module keeps its own copy: the host may free `data`.
///
/// # Safety
/// `data` holds `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn rv_encoder_load(data: *const u8, len: usize) -> i32 {
    // SAFETY: the caller's contract.
    let blob = unsafe { slice(data, len) };
    match Encoder::load(blob) {
        Ok(e) => {
            let all = encoders();
            let slot = match all.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    all.push(None);
                    all.len() - 1
                }
            };
            all[slot] = Some(Box::new(e));
            (slot + 1) as i32
        }
        Err(e) => fail(ERR_BAD_MODEL, e.to_string(), NULL),
    }
}

/// Frees an encoder; an unknown handle is ignored.
#[no_mangle]
pub extern "C" fn rv_encoder_free(h: i32) {
    if let Some(slot) = usize::try_from(h).ok().and_then(|i| i.checked_sub(1)).and_then(|i| encoders().get_mut(i)) {
        *slot = None;
    }
}

/// Writes the embedding length and the most tokens one text may have to `out[0..2]`.
///
/// # Safety
/// `out` has room for two u32.
#[no_mangle]
pub unsafe extern "C" fn rv_encoder_dims(h: i32, out: *mut u32) -> i32 {
    let e = match encoder(h) {
        Some(e) => e,
        None => return FAILED,
    };
    // SAFETY: the caller's contract.
    let out = unsafe { slice_mut(out, 2) };
    out[0] = e.dims().hidden as u32;
    out[1] = e.dims().positions as u32;
    OK
}

/// Unit-length embeddings of `texts` texts into `out` (`texts x hidden` floats): their
/// token ids one after another (`n` in all), `lengths[i]` of them for text `i`. [`FAILED`]
/// ([`ERR_INVALID_INPUT`]) for an id outside the vocabulary or a length of 0 or past the
/// model's positions.
///
/// # Safety
/// `ids` holds `n` u32, `lengths` holds `texts` u32, `out` has room for `texts * hidden` f32.
#[no_mangle]
pub unsafe extern "C" fn rv_encoder_embed(
    h: i32,
    ids: *const u32,
    n: usize,
    lengths: *const u32,
    texts: usize,
    out: *mut f32,
) -> i32 {
    let e = match encoder(h) {
        Some(e) => e,
        None => return FAILED,
    };
    // SAFETY: the caller's contract.
    let (ids, lengths) = unsafe { (slice(ids, n), slice(lengths, texts)) };
    match e.embed(ids, lengths) {
        Ok(vectors) => {
            // SAFETY: the caller's contract.
            unsafe { slice_mut(out, vectors.len()) }.copy_from_slice(&vectors);
            OK
        }
        Err(err @ EncoderError::Token { .. })
        | Err(err @ EncoderError::TextLength { .. })
        | Err(err @ EncoderError::Lengths { .. }) => fail(ERR_INVALID_INPUT, err.to_string(), FAILED),
        Err(err) => fail(ERR_BAD_MODEL, err.to_string(), FAILED),
    }
}
