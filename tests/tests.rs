//! Integration tests: one binary, themed modules.
