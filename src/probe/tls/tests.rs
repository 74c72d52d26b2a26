//! Loopback integration tests of the TLS probe (see the module list at the bottom).
