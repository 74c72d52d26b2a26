//! (module under construction in this commit series)
pub mod tls;
