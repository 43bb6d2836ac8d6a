//! The one place where core errors become JS errors.
//!
//! A native error reaches JS as a plain `Error` whose message starts with `[CODE] `; the
//! drop-in layer (`ts/errors.ts`, `fromNative`) turns it into a `TypeError`, `RangeError` or a
//! coded `Error`. Panics never reach Node: every export is `#[napi(catch_unwind)]` (work on
//! the cache's writer thread catches its own panics and reports them as errors).

use std::fmt::Display;

/// Codes the drop-in layer maps to error classes (see `ts/errors.ts`).
pub const INVALID_ARG: &str = "ERR_INVALID_ARG_TYPE";
pub const OUT_OF_RANGE: &str = "ERR_OUT_OF_RANGE";

/// An `Error` whose message carries a stable code for the drop-in layer.
pub fn coded(code: &str, message: impl Display) -> napi::Error {
    napi::Error::from_reason(format!("[{code}] {message}"))
}

/// A bad argument: becomes a `TypeError` in JS.
pub fn invalid_arg(message: impl Display) -> napi::Error {
    coded(INVALID_ARG, message)
}

/// A value outside its allowed range: becomes a `RangeError` in JS.
pub fn out_of_range(message: impl Display) -> napi::Error {
    coded(OUT_OF_RANGE, message)
}
