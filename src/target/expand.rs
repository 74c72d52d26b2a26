//! Lazy expansion.
