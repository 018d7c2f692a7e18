//! Symlink targets must name something inside the torrent.
//!
//! Sanitising already keeps a target under the torrent's root (no `..`, no absolute paths).
//! This pass goes one step further, as libtorrent's `sanitize_symlinks` does: a target must be
//! a file or directory of the torrent, possibly reached through other symlinks that point at
//! directories (`Headers -> Versions/Current/Headers` with `Versions/Current -> Versions/A`).
//! A target that resolves to nothing is replaced by the link's own path, so storage never
//! creates a dangling link, and a cycle of links cannot be followed forever.
//!
//! The torrent's paths are put in a trie first, so looking a target up costs one hash lookup
//! per component however deep it is; hashing every prefix of every path instead would be
//! quadratic in the depth, which a hostile v2 file tree can make large.

use std::collections::HashMap;

use super::v1::FileEntry;
use crate::paths::Component;

/// How many directory links one target may pass through. Real bundles need one or two.
const MAX_HOPS: usize = 16;

/// Trie steps all symlinks together may take; links still unresolved when it runs out are
/// treated as invalid. Far above what any real torrent needs.
const STEP_BUDGET: usize = 20_000_000;

/// Validates every symlink target in `files`. `root_len` is the number of leading components
/// that are the torrent's root directory (1 for multi-file torrents, else 0); the root itself
/// is not a valid target, as a link to it would be a cycle.
pub(crate) fn sanitize(files: &mut [FileEntry], root_len: usize) {
    if files.iter().all(|f| f.symlink.is_none()) {
        return;
    }
    let verdicts = Resolver::new(files, root_len).verdicts();
    for (f, verdict) in files.iter_mut().zip(verdicts) {
        match verdict {
            Verdict::Keep => {}
            Verdict::Replace(t) => f.symlink = Some(t),
            Verdict::Invalid => f.symlink = Some(f.path.clone()),
        }
    }
}

enum Verdict {
    Keep,
    /// The target only made sense relative to the link's directory; this is it from the root.
    Replace(Vec<Component>),
    Invalid,
}

#[derive(Default)]
struct Node {
    depth: usize,
    has_children: bool,
    /// The first file whose path ends here.
    file: Option<usize>,
}

struct Resolver<'a> {
    files: &'a [FileEntry],
    root_len: usize,
    /// Node 0 is the empty path; children are keyed by (parent, component).
    children: HashMap<(usize, &'a str), usize>,
    nodes: Vec<Node>,
    /// Links (by node) that may stand for a directory inside another target, and where to.
    dir_links: HashMap<usize, Vec<Component>>,
    steps: usize,
}

impl<'a> Resolver<'a> {
    fn new(files: &'a [FileEntry], root_len: usize) -> Self {
        let mut r = Self {
            files,
            root_len,
            children: HashMap::new(),
            nodes: vec![Node::default()],
            dir_links: HashMap::new(),
            steps: 0,
        };
        for (i, f) in files.iter().enumerate() {
            let mut node = 0;
            for c in &f.path {
                node = r.child_or_insert(node, c.as_str());
            }
            if let Some(n) = r.nodes.get_mut(node) {
                n.file.get_or_insert(i);
            }
        }
        r
    }

    fn child_or_insert(&mut self, parent: usize, name: &'a str) -> usize {
        let fresh = self.nodes.len();
        let id = *self.children.entry((parent, name)).or_insert(fresh);
        if id == fresh {
            let depth = self.nodes.get(parent).map_or(0, |p| p.depth) + 1;
            self.nodes.push(Node {
                depth,
                ..Node::default()
            });
        }
        if let Some(p) = self.nodes.get_mut(parent) {
            p.has_children = true;
        }
        id
    }

    fn lookup(&mut self, path: &[Component]) -> Option<usize> {
        let mut node = 0;
        for c in path {
            self.steps += 1;
            node = *self.children.get(&(node, c.as_str()))?;
        }
        Some(node)
    }

    /// A directory of the torrent (not its root directory).
    fn is_dir(&self, node: usize) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|n| n.has_children && n.depth > self.root_len)
    }

    /// `Some(true)` for a file that is itself a symlink (so maybe a directory).
    fn file_is_link(&self, node: usize) -> Option<bool> {
        let f = self.nodes.get(node)?.file?;
        Some(self.files.get(f)?.symlink.is_some())
    }

    fn verdicts(mut self) -> Vec<Verdict> {
        let files = self.files;
        let mut verdicts: Vec<Verdict> = files.iter().map(|_| Verdict::Keep).collect();
        let mut pending = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let Some(target) = f.symlink.as_deref() else {
                continue;
            };
            let Some(me) = self.lookup(&f.path) else {
                continue;
            };
            if let Some(t) = self.lookup(target) {
                if let Some(to_link) = self.file_is_link(t) {
                    if to_link {
                        self.dir_links.insert(me, target.to_vec());
                    }
                    continue;
                }
                if self.is_dir(t) {
                    self.dir_links.insert(me, target.to_vec());
                    continue;
                }
            }
            // Older creators wrote targets relative to the link's own directory
            // (`Versions/Current -> A`); libtorrent accepts those, and so do we.
            if let Some(rel) = relative_target(&f.path, target, self.root_len) {
                if let Some(t) = self.lookup(&rel) {
                    let found = if self.is_dir(t) {
                        Some(true)
                    } else {
                        self.file_is_link(t)
                    };
                    if let Some(may_be_dir) = found {
                        if may_be_dir {
                            self.dir_links.insert(me, rel.clone());
                        }
                        if let Some(v) = verdicts.get_mut(i) {
                            *v = Verdict::Replace(rel);
                        }
                        continue;
                    }
                }
            }
            pending.push(i);
        }
        for i in pending {
            let ok = files
                .get(i)
                .and_then(|f| f.symlink.as_deref())
                .is_some_and(|t| self.resolves(t));
            if let (false, Some(v)) = (ok, verdicts.get_mut(i)) {
                *v = Verdict::Invalid;
            }
        }
        verdicts
    }

    /// Walks `target` component by component; every directory on the way must exist or be a
    /// link to one, and the end must be a file or directory.
    fn resolves(&mut self, target: &[Component]) -> bool {
        let mut current = target.to_vec();
        let mut traversed: Vec<usize> = Vec::new();
        'restart: loop {
            let mut node = 0;
            for (k, c) in current.iter().enumerate() {
                self.steps += 1;
                if self.steps > STEP_BUDGET {
                    return false;
                }
                let Some(&next) = self.children.get(&(node, c.as_str())) else {
                    return false;
                };
                node = next;
                let last = k + 1 == current.len();
                if last || k < self.root_len || self.is_dir(node) {
                    continue;
                }
                let Some(link) = self.dir_links.get(&node) else {
                    return false;
                };
                if traversed.len() >= MAX_HOPS || traversed.contains(&node) {
                    return false;
                }
                traversed.push(node);
                let mut next_target = link.clone();
                next_target.extend_from_slice(current.get(k + 1..).unwrap_or(&[]));
                current = next_target;
                continue 'restart;
            }
            return node != 0
                && (self.nodes.get(node).is_some_and(|n| n.file.is_some()) || self.is_dir(node));
        }
    }
}

/// `target` (written from the root) re-read as relative to the directory holding `link`;
/// `None` when the link sits directly in the root, where both readings are the same.
fn relative_target(
    link: &[Component],
    target: &[Component],
    root_len: usize,
) -> Option<Vec<Component>> {
    let dir = link.get(..link.len().checked_sub(1)?)?;
    if dir.len() <= root_len {
        return None;
    }
    let mut out = dir.to_vec();
    out.extend_from_slice(target.get(root_len..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::SafePath;

    fn entry(path: &str, target: Option<&str>) -> FileEntry {
        let comps = |s: &str| -> Vec<Component> {
            SafePath::parse(s)
                .expect("clean")
                .components()
                .cloned()
                .collect()
        };
        FileEntry {
            path: comps(path),
            length: if target.is_some() { 0 } else { 1 },
            pad: false,
            executable: false,
            hidden: false,
            symlink: target.map(comps),
            pieces_root: None,
        }
    }

    fn targets(files: &[FileEntry]) -> Vec<Option<String>> {
        files
            .iter()
            .map(|f| {
                f.symlink.as_ref().map(|t| {
                    t.iter()
                        .map(Component::as_str)
                        .collect::<Vec<_>>()
                        .join("/")
                })
            })
            .collect()
    }

    #[test]
    fn links_through_directory_links_resolve() {
        let mut files = vec![
            entry("F/Headers", Some("F/Versions/Current/Headers")),
            entry("F/Versions/A/Headers/x.h", None),
            entry("F/Versions/Current", Some("F/Versions/A")),
            entry("F/dangling", Some("F/nothing/here")),
            entry("F/loop1", Some("F/loop2/x")),
            entry("F/loop2", Some("F/loop1")),
            entry("F/root", Some("F")),
            entry("F/Versions/Old", Some("F/A")),
            entry("F/Versions/A/lib", None),
        ];
        sanitize(&mut files, 1);
        assert_eq!(
            targets(&files),
            vec![
                Some("F/Versions/Current/Headers".to_owned()),
                None,
                Some("F/Versions/A".to_owned()),
                Some("F/dangling".to_owned()),
                Some("F/loop1".to_owned()),
                Some("F/loop1".to_owned()),
                Some("F/root".to_owned()),
                Some("F/Versions/A".to_owned()),
                None,
            ]
        );
    }

    #[test]
    fn cycles_of_directory_links_end() {
        let mut files = vec![
            entry("F/a", Some("F/b")),
            entry("F/b", Some("F/a")),
            entry("F/c", Some("F/a/x/y")),
        ];
        sanitize(&mut files, 1);
        assert_eq!(targets(&files)[2].as_deref(), Some("F/c"));
    }
}
