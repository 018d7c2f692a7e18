//! Shared checks for the kit's own tests.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

/// Generous bound for small transfers; Transmission alone needs 10-20 s (rechoke period).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(90);

/// Asserts that `pid` is no longer a child of this test process (it was stopped and reaped).
///
/// A recycled PID would belong to someone else's process, whose parent is not us.
pub fn assert_not_our_child(pid: u32) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return; // gone
    };
    // Field 4 (after the parenthesised command name) is the parent PID.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let ppid: u32 = after_name
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert_ne!(
        ppid,
        std::process::id(),
        "pid {pid} is still our child: {stat}"
    );
}
