//! Safe relative paths for the files of a torrent.
//!
//! Every path element in a torrent comes from whoever made the torrent (or from a peer, for
//! metadata fetched over `ut_metadata`), so it is hostile until proven otherwise. The design
//! decision here is to *sanitise, not reject*, following libtorrent's policy so that a torrent
//! lays out on disk exactly as it does in the reference client (cross-seeding a libtorrent
//! download directory keeps working):
//!
//! * Each element of the torrent's path list becomes exactly one [`Component`]. Separators
//!   (`/`, `\`) inside an element and Unicode direction overrides are *dropped*
//!   (`temp/../../abc` becomes `temp....abc`), invalid UTF-8 sequences and control characters
//!   become `_`, and an element that ends up as `""`, `.` or `..` becomes `_`. Keeping the
//!   element count fixed means `['/', 'foo']` and `['\\', 'foo']` both become `_/foo` and then
//!   collide visibly (and get renamed) instead of silently merging into different depths.
//! * A torrent's *name* is different: it is optional as a directory, so
//!   [`sanitize_component`] returns `None` for it and the caller picks a fallback (libtorrent
//!   uses the info-hash in hex).
//! * Components longer than 255 bytes (the common file-name limit) are shortened on a UTF-8
//!   boundary, keeping a short extension.
//! * After sanitising, paths that collide (ASCII case-insensitively, as libtorrent does, so that
//!   the result is the same on case-insensitive file systems) are renamed `name.1.ext`,
//!   `name.2.ext`, ... by [`dedup_paths`], with a global bound on the work an attacker can cause.
//!
//! Because a [`Component`] can only be built by these functions, a [`SafePath`] joined under a
//! root can never name anything outside that root: no component is empty, `.`, `..`, or holds a
//! separator or NUL. (Symlinks already on disk are the storage layer's concern.)

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The longest component we produce, in bytes: the `NAME_MAX` of ext4, XFS, btrfs, APFS and NTFS
/// (in UTF-16 units there, which 255 UTF-8 bytes never exceed).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// A suffix starting at the last `.` is kept as the extension when shortening a long component
/// if it is at most this long (including the dot); longer "extensions" are just text.
const MAX_EXTENSION_BYTES: usize = 16;

/// Total number of taken candidate names [`dedup_paths`] may try, over the whole torrent, before
/// it gives up. Mirrors libtorrent's `max_duplicate_filenames` default: it bounds the work a
/// torrent listing the same name thousands of times can cause, while ordinary duplicates (a few
/// copies of a name) never come near it.
pub const MAX_DUPLICATE_COLLISIONS: u32 = 500;

/// One sanitised path element: non-empty, at most [`MAX_COMPONENT_BYTES`] bytes, not `.` or
/// `..`, and free of separators, control characters and direction overrides.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Component(String);

impl Component {
    /// The stand-in for an element that sanitises to nothing.
    pub fn placeholder() -> Self {
        Self("_".to_owned())
    }

    /// Accepts `s` only if it is already a clean component (sanitising would not change it).
    /// For reading back paths we produced ourselves, e.g. from resume data.
    pub fn new(s: &str) -> Option<Self> {
        sanitize_component(s.as_bytes()).filter(|c| c.0 == s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for Component {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Sanitises one path element; `None` when nothing usable is left (the element was empty, `.`,
/// `..`, or only separators and dots). Use this for a torrent's name, where the caller has a
/// fallback; use [`sanitize_component_or_placeholder`] for elements of a file's path.
pub fn sanitize_component(raw: &[u8]) -> Option<Component> {
    let cleaned = shorten(clean_chars(raw));
    let cleaned = platform_fixups(cleaned);
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return None;
    }
    Some(Component(cleaned))
}

/// Sanitises one element of a file's path, never dropping it: an element with nothing usable
/// left becomes `_`, so every element of the torrent's path list yields exactly one component.
pub fn sanitize_component_or_placeholder(raw: &[u8]) -> Component {
    sanitize_component(raw).unwrap_or_else(Component::placeholder)
}

/// Characters removed outright: separators (so an element can never become two) and the
/// Unicode direction marks and overrides that make `exe.avi` display as something else.
fn is_dropped(c: char) -> bool {
    matches!(
        c,
        '/' | '\\' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
    )
}

/// Characters replaced by `_`: file systems refuse NUL, and control characters in names are
/// a terminal-injection hazard. On Windows also the characters NTFS reserves (`:` would
/// otherwise make `C:x` a drive-relative path).
fn is_refused(c: char) -> bool {
    if u32::from(c) < 32 {
        return true;
    }
    cfg!(windows) && matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
}

/// Drops and replaces characters; each maximal invalid UTF-8 sequence becomes one `_`
/// (`\xc3(` gives `_(`), as libtorrent does.
fn clean_chars(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len().min(2 * MAX_COMPONENT_BYTES));
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_dropped(c) {
                continue;
            }
            out.push(if is_refused(c) { '_' } else { c });
        }
        if !chunk.invalid().is_empty() {
            out.push('_');
        }
    }
    out
}

/// Cuts `s` to [`MAX_COMPONENT_BYTES`] on a character boundary, keeping a short extension.
fn shorten(s: String) -> String {
    if s.len() <= MAX_COMPONENT_BYTES {
        return s;
    }
    let (stem, ext) = match s.rfind('.') {
        Some(dot) if dot > 0 && s.len() - dot <= MAX_EXTENSION_BYTES => s.split_at(dot),
        _ => (s.as_str(), ""),
    };
    let stem = prefix_within(stem, MAX_COMPONENT_BYTES - ext.len());
    let mut out = String::with_capacity(stem.len() + ext.len());
    out.push_str(stem);
    out.push_str(ext);
    out
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
fn prefix_within(s: &str, max: usize) -> &str {
    let mut cut = max.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Windows silently strips trailing spaces and dots, so `a.` and `a` would be the same file
/// and `..` followed by spaces would be the parent directory. POSIX keeps them (libtorrent
/// keeps `foobar ` on POSIX too).
fn platform_fixups(s: String) -> String {
    if cfg!(windows) {
        s.trim_end_matches([' ', '.']).to_owned()
    } else {
        s
    }
}

/// A relative path made only of sanitised components; at least one (the file name).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SafePath {
    /// Directories from the root down, possibly none.
    dirs: Vec<Component>,
    /// The last component.
    file: Component,
}

impl SafePath {
    /// A path of one component.
    pub fn new(file: Component) -> Self {
        Self {
            dirs: Vec::new(),
            file,
        }
    }

    /// `None` when `components` is empty.
    pub fn from_components(mut components: Vec<Component>) -> Option<Self> {
        let file = components.pop()?;
        Some(Self {
            dirs: components,
            file,
        })
    }

    /// Sanitises every element of a torrent's path list with
    /// [`sanitize_component_or_placeholder`]; `None` when there are no elements.
    pub fn from_raw_elements<I>(elements: I) -> Option<Self>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        Self::from_components(
            elements
                .into_iter()
                .map(|e| sanitize_component_or_placeholder(e.as_ref()))
                .collect(),
        )
    }

    /// Reads back a path as written by `Display` (components joined with `/`); `None` unless
    /// every component is already clean.
    pub fn parse(s: &str) -> Option<Self> {
        let components = s
            .split('/')
            .map(Component::new)
            .collect::<Option<Vec<_>>>()?;
        Self::from_components(components)
    }

    /// Appends a component; the old file name becomes a directory.
    pub fn push(&mut self, c: Component) {
        let old = std::mem::replace(&mut self.file, c);
        self.dirs.push(old);
    }

    /// This path inside directory `dir` (e.g. the torrent's name).
    pub fn under(mut self, dir: Component) -> Self {
        self.dirs.insert(0, dir);
        self
    }

    /// The directories leading to the file, root first.
    pub fn dirs(&self) -> &[Component] {
        &self.dirs
    }

    pub fn file_name(&self) -> &Component {
        &self.file
    }

    /// Replaces the last component.
    pub fn set_file_name(&mut self, file: Component) {
        self.file = file;
    }

    /// All components, root first.
    pub fn components(&self) -> impl Iterator<Item = &Component> {
        self.dirs.iter().chain(std::iter::once(&self.file))
    }

    /// Number of components (at least 1).
    pub fn depth(&self) -> usize {
        self.dirs.len() + 1
    }

    /// The path under `root`. Each component adds exactly one normal path element, so the
    /// result always starts with `root` and never climbs out of it.
    pub fn join_under(&self, root: &Path) -> PathBuf {
        let mut out = root.to_path_buf();
        for c in self.components() {
            out.push(c.as_str());
        }
        out
    }
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.dirs {
            f.write_str(d.as_str())?;
            f.write_str("/")?;
        }
        f.write_str(self.file.as_str())
    }
}

/// The torrent names one file so many times that resolving the collisions was abandoned.
/// The torrent should be rejected ("too many duplicate filenames").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many duplicate filenames (gave up renaming {path})")]
pub struct TooManyDuplicates {
    /// The path being renamed when the limit was hit.
    pub path: String,
}

/// Renames files whose path is already taken, in order: by an earlier file, or by a directory
/// of any file (a file never shadows a directory; the file is renamed). Comparison ignores
/// ASCII case. A renamed file gets `stem.N.ext` (`bar.txt` → `bar.1.txt`, `_` → `_.1`) with the
/// smallest free `N`. Fails once more than [`MAX_DUPLICATE_COLLISIONS`] candidate names in
/// total were found taken. Pad files should be left out: they are never written.
pub fn dedup_paths(paths: &mut [SafePath]) -> Result<(), TooManyDuplicates> {
    // Directories form a trie keyed by (parent node, folded name), node 0 being the root, so
    // memory stays linear in the total length of the paths however deep they are.
    let mut dirs: HashMap<(usize, String), usize> = HashMap::new();
    let mut parents = Vec::with_capacity(paths.len());
    for path in paths.iter() {
        let mut node = 0;
        for d in path.dirs() {
            let fresh = dirs.len() + 1;
            node = *dirs.entry((node, fold(d.as_str()))).or_insert(fresh);
        }
        parents.push(node);
    }

    let mut files: HashSet<(usize, String)> = HashSet::with_capacity(paths.len());
    let mut taken_candidates = 0u32;
    for (path, parent) in paths.iter_mut().zip(parents) {
        let key = (parent, fold(path.file_name().as_str()));
        if !dirs.contains_key(&key) && !files.contains(&key) {
            files.insert(key);
            continue;
        }
        let mut n = 0u32;
        loop {
            n += 1;
            let candidate = numbered(path.file_name(), n);
            let key = (parent, fold(candidate.as_str()));
            if !dirs.contains_key(&key) && !files.contains(&key) {
                files.insert(key);
                path.set_file_name(candidate);
                break;
            }
            taken_candidates += 1;
            if taken_candidates > MAX_DUPLICATE_COLLISIONS {
                return Err(TooManyDuplicates {
                    path: path.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// The comparison key: ASCII case folded, like libtorrent (and like case-insensitive file
/// systems for the names that matter most).
fn fold(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// `stem.N.ext` for `stem.ext`, or `name.N` when there is no extension, shortened to stay
/// within [`MAX_COMPONENT_BYTES`].
fn numbered(name: &Component, n: u32) -> Component {
    let s = name.as_str();
    let (stem, ext) = match s.rfind('.') {
        Some(dot) if dot > 0 => s.split_at(dot),
        _ => (s, ""),
    };
    // A long "extension" cannot be kept whole; number the full name instead.
    let (stem, ext) = if ext.len() > MAX_EXTENSION_BYTES {
        (s, "")
    } else {
        (stem, ext)
    };
    let counter = format!(".{n}");
    let stem = prefix_within(stem, MAX_COMPONENT_BYTES - counter.len() - ext.len());
    // Built from a clean component plus ASCII digits and a dot, within the length limit, and
    // never only dots: the result is clean by construction.
    Component(format!("{stem}{counter}{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(raw: &[u8]) -> Option<String> {
        sanitize_component(raw).map(Component::into_string)
    }

    /// Builds a file path the way the metainfo parser does: the torrent's name (dropped if it
    /// sanitises to nothing) followed by the forced elements of the path list.
    fn torrent_path(name: &[u8], elements: &[&[u8]]) -> String {
        let mut p = SafePath::from_raw_elements(elements).expect("elements");
        if let Some(n) = sanitize_component(name) {
            p = p.under(n);
        }
        p.to_string()
    }

    fn torrent_paths(name: &[u8], files: &[&[&[u8]]]) -> Result<Vec<String>, TooManyDuplicates> {
        let name = sanitize_component(name).expect("name");
        let mut paths: Vec<SafePath> = files
            .iter()
            .map(|f| {
                SafePath::from_raw_elements(*f)
                    .expect("elements")
                    .under(name.clone())
            })
            .collect();
        dedup_paths(&mut paths)?;
        Ok(paths.iter().map(ToString::to_string).collect())
    }

    /// Every row of fixtures/libtorrent/EXPECTED.tsv that states something about paths, with
    /// the raw name and path elements copied byte for byte from the .torrent file.
    #[test]
    fn libtorrent_expected_paths() {
        // empty_path: ['', ''] is sanitised, not rejected.
        assert_eq!(torrent_path(b"temp", &[b"", b""]), "temp/_/_");
        // parent_path: ['..', '..', 'bar'] must not escape. Each element keeps its place
        // (libtorrent master: `_`), so this cannot collide with a genuine 'temp/bar'.
        assert_eq!(
            torrent_path(b"temp", &[b"..", b"..", b"bar"]),
            "temp/_/_/bar"
        );
        // hidden_parent_path: separators inside one element are dropped.
        assert_eq!(
            torrent_path(b"temp", &[b"foo/../../../bar", b"bar"]),
            "temp/foo......bar/bar"
        );
        // slash_path, slash_path2, slash_path3.
        assert_eq!(torrent_path(b"temp", &[b"/", b"/", b"bar"]), "temp/_/_/bar");
        assert_eq!(
            torrent_path(b"temp", &[b"abc/../../def", b"/", b"bar"]),
            "temp/abc....def/_/bar"
        );
        assert_eq!(s(b"temp/../../abc").as_deref(), Some("temp....abc"));
        // backslash_path: ['\\', '\\', 'bar'].
        assert_eq!(
            torrent_path(b"temp", &[b"\\", b"\\", b"bar"]),
            "temp/_/_/bar"
        );
        // long_name: a 300-byte name is shortened and keeps its extension.
        let long = b"abcdefghij0123456789".repeat(15);
        let mut long = long[..290].to_vec();
        long.extend_from_slice(b"0.23456789");
        assert_eq!(long.len(), 300);
        let short = s(&long).expect("long name");
        assert_eq!(short.len(), 255);
        assert!(short.ends_with(".23456789"));
        assert!(short.starts_with("abcdefghij0123456789"));
        // duplicate_files: second 'foo/bar.txt' becomes 'foo/bar.1.txt'.
        assert_eq!(
            torrent_paths(b"temp", &[&[b"foo", b"bar.txt"], &[b"foo", b"bar.txt"]]).unwrap(),
            ["temp/foo/bar.txt", "temp/foo/bar.1.txt"]
        );
        // invalid_name2: name '..' sanitises to nothing (caller falls back to the info-hash).
        assert_eq!(s(b".."), None);
        // invalid_name3: trailing space kept on POSIX.
        #[cfg(not(windows))]
        assert_eq!(s(b"foobar ").as_deref(), Some("foobar "));
        // symlink_filtered_path: ['a', '/', 'bar'].
        assert_eq!(torrent_path(b"temp", &[b"a", b"/", b"bar"]), "temp/a/_/bar");
        // absolute_filename: leading '/' removed.
        assert_eq!(
            torrent_paths(b"temp", &[&[b"abcde"], &[b"/foobar"]]).unwrap(),
            ["temp/abcde", "temp/foobar"]
        );
        // invalid_filename: name '\est2', paths ['f'] and ['.'].
        assert_eq!(
            torrent_paths(b"\\est2", &[&[b"f"], &[b"."]]).unwrap(),
            ["est2/f", "est2/_"]
        );
        // invalid_filename2: ['f'], ['.', '.'], ['/', '.'] gives three distinct files.
        assert_eq!(
            torrent_paths(b"\\est2", &[&[b"f"], &[b".", b"."], &[b"/", b"."]]).unwrap(),
            ["est2/f", "est2/_/_", "est2/_/_.1"]
        );
        // invalid_directory_name: ['/', 'foo'] and ['\\', 'foo'] collide after sanitising.
        assert_eq!(
            torrent_paths(b"test2", &[&[b"/", b"foo"], &[b"\\", b"foo"]]).unwrap(),
            ["test2/_/foo", "test2/_/foo.1"]
        );
        // v2_invalid_filename: single file '\x82est/MB'.
        assert_eq!(s(b"\x82est/MB").as_deref(), Some("_estMB"));
        // v2_invalid_filename2: file tree keys '//', '\\', 'stress_test2' under 'test'.
        assert_eq!(
            torrent_paths(b"test", &[&[b"//"], &[b"\\"], &[b"stress_test2"]]).unwrap(),
            ["test/_", "test/_.1", "test/stress_test2"]
        );
        // empty_path_multi: ['abcde'], [''], [''].
        assert_eq!(
            torrent_paths(b"temp", &[&[b"abcde"], &[b""], &[b""]]).unwrap(),
            ["temp/abcde", "temp/_", "temp/_.1"]
        );
        // duplicate_files2: 118 copies of foo/bar.txt is too many.
        let many: Vec<&[&[u8]]> = vec![&[b"foo", b"bar.txt"]; 118];
        assert!(torrent_paths(b"temp", &many).is_err());
    }

    #[test]
    fn libtorrent_sanitize_path_cases() {
        // From libtorrent's sanitize_path unit test (the non-forced variant).
        assert_eq!(s(b"/a/").as_deref(), Some("a"));
        assert_eq!(s(b"a...b").as_deref(), Some("a...b"));
        assert_eq!(s(b"/.."), None);
        assert_eq!(s(b"."), None);
        assert_eq!(s(b"\\c").as_deref(), Some("c"));
        assert_eq!(s(b"\x08").as_deref(), Some("_"));
        assert_eq!(s(b"\xc3\x28").as_deref(), Some("_("));
        assert_eq!(s(b"foo\xe2\x80\x8ebar").as_deref(), Some("foobar"));
        assert_eq!(s(b"   ").as_deref(), Some("   "));
        assert_eq!(s(b"..."), Some("...".to_owned()));
        assert_eq!(s(b"a\0b").as_deref(), Some("a_b"));
        assert_eq!(sanitize_component_or_placeholder(b"").as_str(), "_");
        assert_eq!(sanitize_component_or_placeholder(b".").as_str(), "_");
    }

    #[test]
    fn long_component_without_extension_cut_on_char_boundary() {
        let raw = "é".repeat(200); // 400 bytes
        let c = s(raw.as_bytes()).unwrap();
        assert_eq!(c.len(), 254);
        assert!(c.chars().all(|ch| ch == 'é'));
        // A long "extension" is not kept.
        let raw = format!("a.{}", "b".repeat(300));
        assert_eq!(s(raw.as_bytes()).unwrap().len(), 255);
    }

    #[test]
    fn file_colliding_with_directory_is_renamed() {
        let mut paths = vec![
            SafePath::parse("t/a").unwrap(),
            SafePath::parse("t/a/b").unwrap(),
            SafePath::parse("t/A.1").unwrap(),
            SafePath::parse("t/x.tar.gz").unwrap(),
            SafePath::parse("t/X.tar.gz").unwrap(),
        ];
        dedup_paths(&mut paths).unwrap();
        let got: Vec<String> = paths.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["t/a.1", "t/a/b", "t/A.1.1", "t/x.tar.gz", "t/X.tar.1.gz"]
        );
    }

    #[test]
    fn dedup_limit_counts_taken_candidates() {
        // 32 copies: 0 + 0 + 1 + ... + 30 = 465 taken candidates, allowed.
        let mut ok = vec![SafePath::parse("d/f").unwrap(); 32];
        dedup_paths(&mut ok).unwrap();
        assert_eq!(ok[31].to_string(), "d/f.31");
        let mut bad = vec![SafePath::parse("d/f").unwrap(); 34];
        assert_eq!(
            dedup_paths(&mut bad),
            Err(TooManyDuplicates {
                path: "d/f".to_owned()
            })
        );
    }

    #[test]
    fn renamed_long_name_stays_within_limit() {
        let long = Component::new(&format!("{}.txt", "a".repeat(251))).unwrap();
        let mut paths = vec![SafePath::new(long.clone()), SafePath::new(long)];
        dedup_paths(&mut paths).unwrap();
        let renamed = paths[1].file_name().as_str();
        assert_eq!(renamed.len(), 255);
        assert!(renamed.ends_with("a.1.txt"));
    }

    #[test]
    fn parse_and_display_round_trip() {
        let p = SafePath::parse("a/b c/d.txt").unwrap();
        assert_eq!(p.depth(), 3);
        assert_eq!(p.to_string(), "a/b c/d.txt");
        assert_eq!(p.file_name().as_str(), "d.txt");
        assert!(SafePath::parse("a/../b").is_none());
        assert!(SafePath::parse("/a").is_none());
        assert!(SafePath::parse("").is_none());
        assert_eq!(
            p.join_under(Path::new("/dl")),
            PathBuf::from("/dl/a/b c/d.txt")
        );
    }

    fn hostile_element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"..".to_vec()),
            Just(b".".to_vec()),
            Just(b"".to_vec()),
            Just(b"/".to_vec()),
            Just(b"\\".to_vec()),
            Just(b"\0".to_vec()),
            Just(b"../../etc/passwd".to_vec()),
            Just(b"..\\..\\x".to_vec()),
            Just("\u{202e}gpj.exe".as_bytes().to_vec()),
            proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b'/'), Just(b'\\'), Just(0u8), any::<u8>()],
                0..12
            ),
            proptest::collection::vec(any::<u8>(), 0..40),
            any::<String>().prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 240..600),
            "[.a/é\\\\]{250,300}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #[test]
        fn sanitised_components_are_clean_and_idempotent(raw in hostile_element()) {
            let c = sanitize_component_or_placeholder(&raw);
            let t = c.as_str();
            prop_assert!(!t.is_empty() && t != "." && t != "..");
            prop_assert!(t.len() <= MAX_COMPONENT_BYTES);
            prop_assert!(!t.contains(['/', '\\', '\0']));
            prop_assert!(t.chars().all(|ch| u32::from(ch) >= 32));
            prop_assert_eq!(sanitize_component(t.as_bytes()), Some(c.clone()));
            prop_assert_eq!(Component::new(t), Some(c.clone()));
        }

        #[test]
        fn joined_paths_stay_under_root(
            elements in proptest::collection::vec(hostile_element(), 1..6),
            name in hostile_element(),
        ) {
            let mut p = SafePath::from_raw_elements(&elements).unwrap();
            prop_assert_eq!(p.depth(), elements.len());
            if let Some(n) = sanitize_component(&name) {
                p = p.under(n);
            }
            let root = Path::new("/srv/downloads");
            let joined = p.join_under(root);
            prop_assert!(joined.starts_with(root));
            let rest = joined.strip_prefix(root).unwrap();
            let parts: Vec<_> = rest.components().collect();
            prop_assert_eq!(parts.len(), p.depth());
            prop_assert!(parts.iter().all(|c| matches!(c, std::path::Component::Normal(_))));
            prop_assert_eq!(SafePath::parse(&p.to_string()), Some(p));
        }

        #[test]
        fn dedup_leaves_distinct_paths_that_shadow_no_directory(
            files in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just(b"a".to_vec()), Just(b"A".to_vec()), Just(b"b.txt".to_vec()),
                                Just(b"..".to_vec()), Just(b"/".to_vec())],
                    1..4),
                1..20),
        ) {
            let mut paths: Vec<SafePath> =
                files.iter().map(|f| SafePath::from_raw_elements(f).unwrap()).collect();
            let before = paths.clone();
            if dedup_paths(&mut paths).is_ok() {
                let folded: Vec<String> = paths.iter().map(|p| fold(&p.to_string())).collect();
                let unique: HashSet<&String> = folded.iter().collect();
                prop_assert_eq!(unique.len(), folded.len());
                for p in &folded {
                    let dir = format!("{p}/");
                    prop_assert!(!folded.iter().any(|q| q.starts_with(&dir)));
                }
                for (a, b) in before.iter().zip(&paths) {
                    prop_assert_eq!(a.dirs(), b.dirs());
                }
            }
        }
    }
}
