//! Shared helpers for the end-to-end tests (kept empty on purpose; the tests live in `e2e/`).
