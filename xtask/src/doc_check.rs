//! `cargo xtask doc-check`: the workspace's rustdoc, built with warnings as
//! errors (dead intra-doc links among them), then read as a user reads it.
//!
//! - Every type a public signature of the facade (`phala-cloud`) names has
//!   a page in the facade's docs: no item page links into the generated
//!   crate's pages, except the few items that are the generated crate on
//!   purpose ([`RAW_ON_PURPOSE`]).
//! - Every field and variant on the facade's pages has a description.
//! - No page of any workspace crate has an empty list (a doc comment whose
//!   list markers rustdoc could not read) or a relative link to a file that
//!   does not exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The facade's crate, whose pages are held to every check.
const FACADE: &str = "phala_cloud";
/// The generated crate: the facade's pages link to it only here.
const RAW: &str = "phala_cloud_api";
/// Pages of the generated crate the facade links to on purpose: the crate
/// itself (`phala_cloud::raw`), its `versions` module and its `Client`
/// (what `Client::raw` returns).
const RAW_ON_PURPOSE: [&str; 3] = ["index.html", "versions/index.html", "generated/struct.Client.html"];

/// What the check found; empty when the docs pass.
#[derive(Default)]
pub struct Findings {
    /// Pages read, over all crates.
    pub pages: usize,
    /// Fields and variants read on the facade's pages.
    pub fields: usize,
    /// Each problem: page (relative to the doc directory) and what is wrong.
    pub problems: Vec<(String, String)>,
}

/// Builds the docs and checks them.
pub fn run() -> Result<Findings, String> {
    let flags = std::ffi::OsString::from("-D warnings");
    crate::bench::cargo_with(
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--locked",
            "--all-features",
            "--quiet",
        ],
        &[("RUSTDOCFLAGS", flags.as_os_str())],
    )?;
    let out = crate::bench::cargo_with(&["metadata", "--format-version", "1", "--no-deps"], &[])?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let doc = target_directory(&meta)?.join("doc");
    check(&doc, &workspace_crates(&meta))
}

/// Checks built docs under `doc` for `crates` (their rustdoc names).
pub fn check(doc: &Path, crates: &[String]) -> Result<Findings, String> {
    let mut findings = Findings::default();
    for krate in crates {
        let root = doc.join(krate);
        if !root.is_dir() {
            continue;
        }
        for page in pages(&root)? {
            let text = std::fs::read_to_string(&page).map_err(|e| format!("{}: {e}", page.display()))?;
            if text
                .get(..800)
                .is_some_and(|head| head.contains("http-equiv=\"refresh\""))
            {
                continue; // a redirect rustdoc writes for a re-export
            }
            findings.pages += 1;
            let shown = page.strip_prefix(doc).unwrap_or(&page).display().to_string();
            let mut problem = |what: String| findings.problems.push((shown.clone(), what));
            for list in ["<ol></ol>", "<ul></ul>", "<li></li>"] {
                if text.contains(list) {
                    problem(format!("an empty list ({list})"));
                }
            }
            let facade_item = krate == FACADE && !page.components().any(|c| c.as_os_str() == "src");
            for href in hrefs(&text) {
                if let Some(target) = relative_target(&page, href)
                    && !target.exists()
                {
                    problem(format!("a dead link to {href}"));
                }
                if facade_item
                    && let Some(raw) = into_crate(href, RAW)
                    && !RAW_ON_PURPOSE.contains(&raw)
                {
                    problem(format!("names {RAW}'s {raw}, which has no page in the facade's docs"));
                }
            }
            if facade_item {
                for (field, documented) in fields(&text) {
                    findings.fields += 1;
                    if !documented {
                        problem(format!("{field} has no description"));
                    }
                }
            }
        }
    }
    findings.problems.sort();
    findings.problems.dedup();
    Ok(findings)
}

/// The HTML pages under `root`, sorted.
fn pages(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every `href="..."` value of a page.
fn hrefs(text: &str) -> impl Iterator<Item = &str> {
    text.split("href=\"").skip(1).filter_map(|rest| rest.split('"').next())
}

/// Where a relative link points on disk (no fragment or query), if it is a
/// link to a page of these docs. Links of other shapes are not rustdoc's:
/// a script's template (`${f}`), or the unresolved intra-doc link of a
/// dependency's docs shown in a blanket impl (`crate::Span`).
fn relative_target(page: &Path, href: &str) -> Option<PathBuf> {
    let path = href.split(['#', '?']).next()?;
    let external = path.is_empty() || path.contains("://") || path.starts_with("mailto:") || path.starts_with('/');
    let a_page = path.ends_with(".html") && !path.contains("${");
    (!external && a_page).then(|| page.parent().unwrap_or(page).join(path))
}

/// The page within `krate` a relative link points at, if it does.
fn into_crate<'a>(href: &'a str, krate: &str) -> Option<&'a str> {
    if href.contains("://") {
        return None;
    }
    let path = href.split('#').next()?;
    let marker = format!("{krate}/");
    let at = path.find(&marker)?;
    let before = &path[..at];
    // `src/<crate>/...` is a "Source" link, to the code, not to an item.
    let item = (before.is_empty() || before.ends_with('/')) && !before.ends_with("src/");
    item.then(|| &path[at + marker.len()..])
}

/// Each field (`structfield.x`) and variant (`variant.X`) of a page and
/// whether a description follows its header before the next one.
fn fields(text: &str) -> Vec<(String, bool)> {
    let mut starts: BTreeMap<usize, String> = BTreeMap::new();
    for marker in ["id=\"structfield.", "id=\"variant."] {
        for (at, _) in text.match_indices(marker) {
            let name = text[at + 4..].split('"').next().unwrap_or_default();
            // A struct variant's own fields (`variant.X.field.y`) are read
            // within their variant.
            if !name.contains(".field.") {
                starts.insert(at, name.to_string());
            }
        }
    }
    let ends: Vec<usize> = starts.keys().skip(1).copied().collect();
    starts
        .into_iter()
        .enumerate()
        .map(|(i, (at, name))| {
            let limit = ends.get(i).copied().unwrap_or(text.len());
            let segment = &text[at..limit];
            let segment = segment.find("<h2").map_or(segment, |h| &segment[..h]);
            (name, segment.contains("class=\"docblock"))
        })
        .collect()
}

/// The target directory cargo uses here (wherever `CARGO_TARGET_DIR` or a
/// config sends it), from `cargo metadata`.
fn target_directory(meta: &serde_json::Value) -> Result<PathBuf, String> {
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata names no target directory".to_string())
}

/// The rustdoc names of the workspace's library crates, from `cargo metadata`.
fn workspace_crates(meta: &serde_json::Value) -> Vec<String> {
    meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "lib")))
        .filter_map(|t| t["name"].as_str().map(|n| n.replace('-', "_")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_links_and_lists_are_read_as_a_user_sees_them() {
        let dir = std::env::temp_dir().join(format!("doc-check-{}", std::process::id()));
        let facade = dir.join(FACADE);
        std::fs::create_dir_all(facade.join("types")).unwrap();
        std::fs::create_dir_all(dir.join(RAW).join("generated")).unwrap();
        std::fs::write(dir.join(RAW).join("index.html"), "").unwrap();
        let page = concat!(
            "<h2 id=\"fields\">Fields</h2>",
            "<span id=\"structfield.a\"><code>a</code></span><div class=\"docblock\">Said.</div>",
            "<span id=\"structfield.b\"><code>b: <a href=\"../../phala_cloud_api/generated/types/struct.X.html\">X</a></code></span>",
            "<h2 id=\"implementations\"></h2><div class=\"docblock\">impl docs</div>",
            "<a href=\"../../phala_cloud_api/index.html\">raw</a><a href=\"struct.Gone.html#x\">gone</a><ol></ol>",
        );
        std::fs::write(facade.join("types/struct.S.html"), page).unwrap();
        let found = check(&dir, &[FACADE.to_string(), RAW.to_string()]).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let what: Vec<&str> = found.problems.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(found.fields, 2);
        assert!(what.contains(&"structfield.b has no description"), "{what:?}");
        assert!(!what.iter().any(|w| w.starts_with("structfield.a")), "{what:?}");
        assert!(
            what.contains(
                &"names phala_cloud_api's generated/types/struct.X.html, which has no page in the facade's docs"
            ),
            "{what:?}"
        );
        assert!(what.contains(&"a dead link to struct.Gone.html#x"), "{what:?}");
        assert!(what.contains(&"an empty list (<ol></ol>)"), "{what:?}");
        assert!(
            what.contains(&"a dead link to ../../phala_cloud_api/generated/types/struct.X.html"),
            "{what:?}"
        );
        assert_eq!(what.len(), 5, "the raw crate's index is linked on purpose: {what:?}");
    }
}
