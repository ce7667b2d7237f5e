//! End-to-end tests: each runs the built `cordon` binary as a user would.

mod support;

mod cache;
mod cli;
mod conformance;
mod deterministic;
mod escape;
mod exit_codes;
mod isolation;
mod limits;
mod protected;
mod rules;
mod tools;
