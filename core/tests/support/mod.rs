//! Test support shared by the core's integration tests.

#![allow(unreachable_pub)]

pub mod pair;
