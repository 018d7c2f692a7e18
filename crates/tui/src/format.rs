//! Numbers and durations as short human text, and cleaning of text that others control.

use std::time::Duration;

const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// `1536` → `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    let (value, unit) = scale(n);
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1536` → `1.5 KiB/s`.
pub fn rate(n: u64) -> String {
    format!("{}/s", bytes(n))
}

/// A rate in at most 5 columns for tables: `0`, `812`, `1.5K`, `23M`.
pub fn rate_short(n: u64) -> String {
    let (value, unit) = scale(n);
    let suffix = ["", "K", "M", "G", "T", "P"][unit];
    if unit == 0 {
        format!("{n}")
    } else if value < 10.0 {
        format!("{value:.1}{suffix}")
    } else {
        format!("{value:.0}{suffix}")
    }
}

fn scale(n: u64) -> (f64, usize) {
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    // 1023.96 KiB would print as "1024.0 KiB"; show the next unit instead.
    if unit > 0 && value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    (value, unit)
}

/// A duration in its two largest units: `45s`, `3m20s`, `1h02m`, `2d03h`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `numerator / denominator` as a percentage rounded down to 0.1, so an incomplete torrent
/// never shows 100.0%.
pub fn percent(numerator: u64, denominator: u64) -> String {
    if denominator == 0 {
        return "—".into();
    }
    let permille = (u128::from(numerator) * 1000 / u128::from(denominator)).min(1000);
    format!("{}.{}%", permille / 10, permille % 10)
}

/// Text from peers, trackers and torrent files made safe to print: control characters
/// (which could carry terminal escape sequences) and bidirectional overrides (which could
/// disguise it) are dropped, and it is cut to `max_chars`.
pub fn clean(s: &str, max_chars: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(max_chars)
        .collect()
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(rate(3 << 20), "3.0 MiB/s");
        assert_eq!(rate_short(812), "812");
        assert_eq!(rate_short(1536), "1.5K");
        assert_eq!(rate_short(23 << 20), "23M");
        assert_eq!(bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_secs(45)), "45s");
        assert_eq!(duration(Duration::from_secs(200)), "3m20s");
        assert_eq!(duration(Duration::from_secs(3720)), "1h02m");
        assert_eq!(duration(Duration::from_secs(2 * 86400 + 3 * 3600)), "2d03h");
    }

    #[test]
    fn percent_rounds_down() {
        assert_eq!(percent(9995, 10000), "99.9%");
        assert_eq!(percent(10, 10), "100.0%");
        assert_eq!(percent(1, 0), "—");
        assert_eq!(percent(u64::MAX, u64::MAX), "100.0%");
    }

    #[test]
    fn clean_drops_escapes_and_caps_length() {
        assert_eq!(clean("a\x1b[2Jb\u{202e}c\n", 10), "a[2Jbc");
        assert_eq!(clean("ééééé", 3), "ééé");
    }
}
