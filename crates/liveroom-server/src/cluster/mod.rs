//! Cluster mode: several nodes serve one room over Redis (`--redis`). The seams' Redis
//! implementations, side by side with the local ones at the crate's top level.

pub(crate) mod conn;
pub(crate) mod keys;
