//! Target parsing.
