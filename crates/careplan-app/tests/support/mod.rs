//! Shared helpers of the app's test binaries.

pub mod kittest;
