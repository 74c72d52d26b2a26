//! posture.toml.
