//! Integration tests of `careplan-client`, compiled into one test binary.

mod cert;
mod durability;
mod e2e;
mod ledger_chain;
mod names;
mod push;
mod relay_support;
mod send;
mod streams;
mod watch;
