//! Launchers for reference programs used by the integration tests.

pub mod opentracker;
