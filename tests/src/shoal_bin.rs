//! Finding and running the `shoal` binary from tests.

use std::path::PathBuf;

/// The `shoal` binary of this build: `$SHOAL_BIN`, or `shoal` beside the test executable's
/// `deps/` folder (target/<profile>/shoal). `scripts/test.sh` builds it before the tests.
pub fn shoal_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SHOAL_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> -> target/<profile>/shoal
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin = profile_dir.join("shoal");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release -p shoal` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}
