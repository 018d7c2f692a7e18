//! A [`Metainfo`] from an info dictionary alone: what a magnet link download has once the
//! metadata arrived from peers (BEP 9).
//!
//! Rather than a second parser, the info dictionary is wrapped into a .torrent file (the raw
//! bytes spliced in verbatim, so the info-hash cannot change) and parsed by the one that
//! reads files, with every check it makes. The same bytes are what a client saves as the
//! `.torrent` of a magnet download, so [`torrent_file`] is public too.

use shoal_bencode::{Limits, OwnedValue};

use super::{Metainfo, MetainfoError, MetainfoLimits};

/// A .torrent file holding `info` (verbatim) and `trackers` (BEP 12 tiers): `announce` is the
/// first tracker, `announce-list` is written when there are several. `info` must be one
/// bencoded dictionary, or the result is not a valid torrent.
pub fn torrent_file(info: &[u8], trackers: &[Vec<String>]) -> Vec<u8> {
    let mut top = OwnedValue::dict();
    let all: Vec<&String> = trackers.iter().flatten().collect();
    if let Some(first) = all.first() {
        top.insert(b"announce", OwnedValue::bytes(first.as_bytes()));
    }
    if all.len() > 1 {
        let tiers = trackers
            .iter()
            .filter(|t| !t.is_empty())
            .map(|t| OwnedValue::List(t.iter().map(|u| OwnedValue::bytes(u.as_bytes())).collect()))
            .collect();
        top.insert(b"announce-list", OwnedValue::List(tiers));
    }
    top.insert(b"info", OwnedValue::Raw(info.to_vec()));
    top.encode()
}

impl Metainfo {
    /// A torrent from its raw info dictionary (e.g. fetched with ut_metadata and verified
    /// against the info-hash) and the trackers to use with it. Validated exactly like a
    /// .torrent file; the info-hash is that of `info` as given.
    pub fn from_info_bytes(info: &[u8], trackers: Vec<Vec<String>>) -> Result<Self, MetainfoError> {
        let limits = MetainfoLimits::default();
        // Spliced verbatim, bytes that are not exactly one dictionary would change the
        // structure around them: refuse them before wrapping.
        let decode_limits = Limits {
            max_depth: limits.max_depth,
            max_tokens: limits.max_tokens,
            max_input: limits.max_torrent_size,
        };
        let (value, used) =
            shoal_bencode::decode_prefix(info, &decode_limits).map_err(MetainfoError::Bencode)?;
        if value.as_dict().is_none() || used != info.len() {
            return Err(MetainfoError::MissingInfo);
        }
        let meta = Self::from_bytes_with_limits(&torrent_file(info, &trackers), &limits)?;
        debug_assert_eq!(meta.info_bytes(), info);
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InfoHashV1;

    fn info() -> Vec<u8> {
        OwnedValue::dict()
            .with(b"length", OwnedValue::int(40_000))
            .with(b"name", OwnedValue::bytes("a.bin"))
            .with(b"piece length", OwnedValue::int(16384))
            .with(b"pieces", OwnedValue::bytes(vec![7u8; 60]))
            .encode()
    }

    #[test]
    fn keeps_the_info_hash_and_trackers() {
        let info = info();
        let tiers = vec![
            vec!["http://127.0.0.1:1/a".to_string()],
            vec![
                "udp://127.0.0.1:2".to_string(),
                "http://127.0.0.1:3/b".to_string(),
            ],
        ];
        let m = Metainfo::from_info_bytes(&info, tiers.clone()).unwrap();
        assert_eq!(
            m.info_hash().get_v1(),
            Some(InfoHashV1::of_info_bytes(&info))
        );
        assert_eq!(m.info_bytes(), &info[..]);
        assert_eq!(m.trackers(), &tiers[..]);
        assert_eq!(m.total_length(), 40_000);
        // The saved file parses back to the same torrent.
        let again = Metainfo::from_bytes(&torrent_file(&info, &tiers)).unwrap();
        assert_eq!(again.info_hash(), m.info_hash());

        let bare = Metainfo::from_info_bytes(&info, Vec::new()).unwrap();
        assert!(bare.trackers().is_empty());
    }

    #[test]
    fn refuses_what_is_not_one_dictionary() {
        let mut trailing = info();
        trailing.extend_from_slice(b"i1e");
        for bad in [&b"i5e"[..], b"", b"d4:name", &trailing] {
            assert!(
                Metainfo::from_info_bytes(bad, Vec::new()).is_err(),
                "{bad:?}"
            );
        }
        // A dictionary that is no valid info section.
        let no_pieces = OwnedValue::dict()
            .with(b"name", OwnedValue::bytes("x"))
            .encode();
        assert!(Metainfo::from_info_bytes(&no_pieces, Vec::new()).is_err());
    }
}
