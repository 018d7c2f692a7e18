//! Helpers shared by the integration and interop tests in `tests/tests/`.

pub mod evil_seeder;
pub mod shoal_bin;
