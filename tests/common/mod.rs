//! Helpers shared by the integration tests (`mod common;` in a test file).
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

pub mod contract;
