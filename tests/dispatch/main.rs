//! The dispatch layer against servers the tests start on 127.0.0.1: limits, Retry-After,
//! non-retryable statuses, fallback, breaker, quota, AIMD and the error-rate guard.

#[path = "../common/mod.rs"]
mod common;
mod converge;
mod failfast;
mod faults;
mod harness;
mod limits;
