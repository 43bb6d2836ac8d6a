//! The one place where core errors become JS errors.
