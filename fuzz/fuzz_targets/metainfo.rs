//! Any input: parsing a .torrent never panics; whatever parses has self-consistent geometry
//! (files tile the total length, piece count matches) and its info bytes are a span of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_core::metainfo::Metainfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Metainfo::from_bytes(data) {
        let total: u64 = m.files().iter().map(|f| f.length).sum();
        assert_eq!(total, m.total_length());
        let layout = m.layout();
        assert_eq!(layout.piece_count(), m.piece_count());
        let info = m.info_bytes();
        // (A quadratic search: only on inputs small enough to keep the fuzzer fast.)
        if data.len() < 16 * 1024 {
            assert!(data.windows(info.len()).any(|w| w == info));
        }
        let _ = m.info_hash().to_string();
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(magnet) = shoal_core::magnet::Magnet::parse(s) {
            let again = shoal_core::magnet::Magnet::parse(&magnet.to_uri());
            assert!(again.is_ok(), "a produced magnet link parses");
        }
    }
});
