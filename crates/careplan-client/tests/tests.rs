//! Integration tests of `careplan-client`, compiled into one test binary.

mod cert;
mod durability;
mod send;
