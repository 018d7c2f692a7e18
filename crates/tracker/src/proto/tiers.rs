//! BEP 12 tracker tiers: which URL to try next.

use rand::seq::SliceRandom;

use super::http_url::TrackerUrl;
use super::types::AnnounceResponse;
use crate::TrackerError;

#[derive(Clone, Debug)]
struct Entry {
    url: TrackerUrl,
    /// The `tracker id` this tracker gave us, echoed in later announces to it.
    tracker_id: Option<Vec<u8>>,
}

/// Position of the URL being tried in the current round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    tier: usize,
    index: usize,
}

/// The announce list of one torrent, ordered as BEP 12 asks: each tier shuffled once when
/// built, tiers tried in order and every URL of a tier before the next tier, and a tracker
/// that answers moved to the front of its tier so later rounds start with it.
///
/// Call order: [`start_round`](Self::start_round) gives the first URL to announce to; after
/// each attempt call [`report_success`](Self::report_success) (the round ends) or
/// [`report_failure`](Self::report_failure), which gives the next URL or `None` when every
/// tracker failed this round (then back off and start a new round later).
#[derive(Clone, Debug)]
pub struct TrackerList {
    tiers: Vec<Vec<Entry>>,
    cursor: Option<Cursor>,
}

impl TrackerList {
    /// Builds the list, shuffling within each tier with `rng`. Empty tiers and repeated URLs
    /// (kept where they first appear) are dropped.
    pub fn new(tiers: Vec<Vec<TrackerUrl>>, rng: &mut impl rand::Rng) -> Self {
        let mut seen = std::collections::HashSet::new();
        let tiers = tiers
            .into_iter()
            .filter_map(|tier| {
                let mut entries: Vec<Entry> = tier
                    .into_iter()
                    .filter(|url| seen.insert(url.clone()))
                    .map(|url| Entry {
                        url,
                        tracker_id: None,
                    })
                    .collect();
                entries.shuffle(rng);
                (!entries.is_empty()).then_some(entries)
            })
            .collect();
        Self {
            tiers,
            cursor: None,
        }
    }

    /// Builds from URL strings as found in a .torrent `announce-list` (or one tier holding
    /// `announce`). Unusable URLs are left out and returned so they can be reported.
    pub fn from_strs<S: AsRef<str>>(
        tiers: &[Vec<S>],
        rng: &mut impl rand::Rng,
    ) -> (Self, Vec<TrackerError>) {
        let mut rejected = Vec::new();
        let parsed = tiers
            .iter()
            .map(|tier| {
                tier.iter()
                    .filter_map(|s| {
                        TrackerUrl::parse(s.as_ref())
                            .map_err(|e| rejected.push(e))
                            .ok()
                    })
                    .collect()
            })
            .collect();
        (Self::new(parsed, rng), rejected)
    }

    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The URLs in the order they are tried, tier by tier.
    pub fn tiers(&self) -> Vec<Vec<&TrackerUrl>> {
        self.tiers
            .iter()
            .map(|t| t.iter().map(|e| &e.url).collect())
            .collect()
    }

    /// Starts a round at the front of the first tier.
    pub fn start_round(&mut self) -> Option<&TrackerUrl> {
        self.cursor = (!self.tiers.is_empty()).then_some(Cursor { tier: 0, index: 0 });
        self.current()
    }

    /// The URL being tried, if a round is in progress.
    pub fn current(&self) -> Option<&TrackerUrl> {
        self.current_entry().map(|e| &e.url)
    }

    /// The tracker id to send to the current URL.
    pub fn current_tracker_id(&self) -> Option<&[u8]> {
        self.current_entry().and_then(|e| e.tracker_id.as_deref())
    }

    /// The current URL answered: remember its tracker id, move it to the front of its tier,
    /// end the round.
    pub fn report_success(&mut self, response: &AnnounceResponse) {
        let Some(Cursor { tier, index }) = self.cursor.take() else {
            return;
        };
        let Some(entries) = self.tiers.get_mut(tier) else {
            return;
        };
        if let Some(entry) = entries.get_mut(index) {
            if let Some(id) = &response.tracker_id {
                entry.tracker_id = Some(id.clone());
            }
        }
        if let Some(head) = entries.get_mut(..=index) {
            head.rotate_right(1);
        }
    }

    /// The current URL failed: move to the next one of its tier, else the next tier.
    /// `None` means the round is over with no tracker reached.
    pub fn report_failure(&mut self) -> Option<&TrackerUrl> {
        let Cursor { tier, index } = self.cursor?;
        let tier_len = self.tiers.get(tier).map_or(0, Vec::len);
        self.cursor = if index + 1 < tier_len {
            Some(Cursor {
                tier,
                index: index + 1,
            })
        } else if tier + 1 < self.tiers.len() {
            Some(Cursor {
                tier: tier + 1,
                index: 0,
            })
        } else {
            None
        };
        self.current()
    }

    fn current_entry(&self) -> Option<&Entry> {
        let c = self.cursor?;
        self.tiers.get(c.tier)?.get(c.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn list(tiers: &[&[&str]], seed: u64) -> TrackerList {
        let owned: Vec<Vec<&str>> = tiers.iter().map(|t| t.to_vec()).collect();
        let (l, rejected) = TrackerList::from_strs(&owned, &mut StdRng::seed_from_u64(seed));
        assert!(rejected.is_empty());
        l
    }

    fn order(l: &TrackerList) -> Vec<Vec<String>> {
        l.tiers()
            .iter()
            .map(|t| {
                t.iter()
                    .map(|u| u.url().host_str().unwrap_or("").to_string())
                    .collect()
            })
            .collect()
    }

    fn host(u: Option<&TrackerUrl>) -> Option<String> {
        u.and_then(|u| u.url().host_str()).map(str::to_string)
    }

    const TIERED: &[&[&str]] = &[
        &["http://a/announce", "http://b/announce", "udp://c:1"],
        &["http://backup/announce"],
    ];

    #[test]
    fn shuffle_is_per_tier_and_seeded() {
        assert_eq!(order(&list(TIERED, 3)), order(&list(TIERED, 3)));
        let mut orders = std::collections::HashSet::new();
        for seed in 0..32 {
            let o = order(&list(TIERED, seed));
            assert_eq!(o[1], vec!["backup"], "tiers never mix");
            let mut first = o[0].clone();
            orders.insert(first.clone());
            first.sort();
            assert_eq!(first, vec!["a", "b", "c"]);
        }
        assert!(orders.len() > 1, "some seed changes the order");
    }

    #[test]
    fn falls_through_tiers_then_promotes() {
        let mut l = list(TIERED, 5);
        let o = order(&l);
        let first_tier = o[0].clone();
        assert_eq!(host(l.start_round()).as_ref(), Some(&first_tier[0]));
        assert_eq!(host(l.report_failure()).as_ref(), Some(&first_tier[1]));
        assert_eq!(host(l.report_failure()).as_ref(), Some(&first_tier[2]));
        assert_eq!(host(l.report_failure()).as_deref(), Some("backup"));
        assert_eq!(l.report_failure(), None, "round exhausted");
        assert_eq!(l.current(), None);

        // The third URL of tier 0 answers: it moves to the front, the others keep their order.
        l.start_round();
        l.report_failure();
        l.report_failure();
        l.report_success(&AnnounceResponse {
            tracker_id: Some(b"tid".to_vec()),
            ..Default::default()
        });
        let want = vec![
            first_tier[2].clone(),
            first_tier[0].clone(),
            first_tier[1].clone(),
        ];
        assert_eq!(order(&l)[0], want);
        assert_eq!(host(l.start_round()).as_ref(), Some(&want[0]));
        assert_eq!(l.current_tracker_id(), Some(&b"tid"[..]));
        l.report_failure();
        assert_eq!(l.current_tracker_id(), None);
    }

    #[test]
    fn backup_tier_success_does_not_reorder_tiers() {
        let mut l = list(TIERED, 9);
        let before = order(&l);
        l.start_round();
        for _ in 0..3 {
            l.report_failure();
        }
        l.report_success(&AnnounceResponse::default());
        assert_eq!(order(&l), before);
        assert_eq!(
            host(l.start_round()),
            Some(before[0][0].clone()),
            "each round starts at tier 0"
        );
    }

    #[test]
    fn bad_urls_duplicates_and_empty_tiers_are_dropped() {
        let tiers = vec![
            vec!["http://a/announce", "ftp://x/", "http://a/announce"],
            vec![],
            vec!["udp://nope"],
        ];
        let (mut l, rejected) = TrackerList::from_strs(&tiers, &mut StdRng::seed_from_u64(0));
        assert_eq!(rejected.len(), 2);
        assert_eq!(order(&l), vec![vec!["a"]]);
        let (mut empty, _) = TrackerList::from_strs::<&str>(&[], &mut StdRng::seed_from_u64(0));
        assert!(empty.is_empty());
        assert_eq!(empty.start_round(), None);
        assert_eq!(empty.report_failure(), None);
        assert!(l.start_round().is_some());
    }
}
