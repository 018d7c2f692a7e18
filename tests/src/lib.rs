//! Helpers shared by the integration and interop tests in `tests/tests/`.

pub mod dht_net;
pub mod evil_seeder;
pub mod interop;
pub mod scrape;
pub mod seeding;
pub mod shoal_bin;
pub mod shoal_process;
