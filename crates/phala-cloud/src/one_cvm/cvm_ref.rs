//! One way to name a CVM, accepted everywhere: its hashed id, VM UUID, app
//! id, instance id or name. The service resolves any of them in a path;
//! batch endpoints take one form only (status: VM UUIDs, stop: hashed ids),
//! so fleet calls resolve the others with one listing for the whole batch.

use std::collections::HashMap;

use futures::TryStreamExt;
use serde::Serialize;

use crate::{Client, Cvm, Error, ListFilter};

/// A CVM as a caller names it. Parsed from text by its form ([`CvmRef::parse`],
/// `From<&str>`): `cvm_...` is a hashed id, a UUID (with or without dashes)
/// a VM UUID, `app_<id>` an app id, 40 hex digits an instance id, anything
/// else a name. Build a variant directly when a name looks like another form.
///
/// Every fleet call takes references (`&str`, `String`, `CvmRef` or `&Cvm`:
/// anything `AsRef<str>`, read through [`CvmRef::parse`]); an app id there
/// means all of the app's CVMs. A reference that matches no CVM, or several
/// where one is needed, is a typed failure for that id
/// ([`Error::NoSuchCvm`], [`Error::AmbiguousCvm`]), never a silent absence.
///
/// ```
/// use phala_cloud::CvmRef;
/// assert!(matches!(CvmRef::parse("cvm_ykL5lbAn"), CvmRef::Id(_)));
/// assert!(matches!(CvmRef::parse("6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f"), CvmRef::Uuid(_)));
/// assert!(matches!(CvmRef::parse("app_0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"), CvmRef::App(_)));
/// assert!(matches!(CvmRef::parse("web-0"), CvmRef::Name(_)));
/// // The path form gives the same reference back.
/// let app = CvmRef::app("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
/// assert_eq!(app.as_ref(), "app_0a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
/// assert_eq!(CvmRef::parse(app.as_ref()), app);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CvmRef {
    /// The hashed id (`cvm_...`), what batch stop takes.
    Id(String),
    /// The VM UUID, what batch status takes.
    Uuid(String),
    /// An app id as a path takes it, `app_<id>` ([`CvmRef::app`] adds the
    /// prefix): one CVM, or all of the app's in fleet calls.
    App(String),
    /// The instance id.
    Instance(String),
    /// The CVM's name.
    Name(String),
}

/// The form of a reference, read from its text without copying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    Id,
    Uuid,
    App,
    Instance,
    Name,
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A UUID with dashes (8-4-4-4-12) or without (32 hex digits). On the
/// path of every `status_many`, so without a branch per byte: four dashes
/// where they belong and nothing but hex digits and dashes elsewhere.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    match b.len() {
        32 => is_hex(s),
        36 => {
            let (ok, dashes) = b.iter().fold((true, 0u8), |(ok, dashes), &c| {
                let dash = c == b'-';
                (ok & (c.is_ascii_hexdigit() | dash), dashes + u8::from(dash))
            });
            ok && dashes == 4 && b[8] == b'-' && b[13] == b'-' && b[18] == b'-' && b[23] == b'-'
        }
        _ => false,
    }
}

/// A VM UUID in one spelling (lower case, dashed), for matching.
pub(crate) fn canonical_uuid(s: &str) -> String {
    let hex: String = s.chars().filter(|c| *c != '-').flat_map(char::to_lowercase).collect();
    if hex.len() != 32 {
        return s.to_ascii_lowercase();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

pub(crate) fn form_of(s: &str) -> Form {
    if s.starts_with("cvm_") {
        Form::Id
    } else if s.starts_with("app_") {
        Form::App
    } else if is_uuid(s) {
        Form::Uuid
    } else if s.len() == 40 && is_hex(s) {
        Form::Instance
    } else {
        Form::Name
    }
}

impl CvmRef {
    /// Reads a reference by its form (see the type's doc).
    pub fn parse(s: &str) -> CvmRef {
        let owned = s.to_string();
        match form_of(s) {
            Form::Id => CvmRef::Id(owned),
            Form::Uuid => CvmRef::Uuid(owned),
            Form::App => CvmRef::App(owned),
            Form::Instance => CvmRef::Instance(owned),
            Form::Name => CvmRef::Name(owned),
        }
    }

    /// The CVMs of app `id` (with or without its `app_` prefix).
    pub fn app(id: &str) -> CvmRef {
        CvmRef::App(format!("app_{}", id.strip_prefix("app_").unwrap_or(id)))
    }

    fn describe(&self) -> String {
        match self {
            CvmRef::Id(s) => format!("with id {s:?}"),
            CvmRef::Uuid(s) => format!("with VM UUID {s:?}"),
            CvmRef::App(s) => format!("of app {:?}", s.strip_prefix("app_").unwrap_or(s)),
            CvmRef::Instance(s) => format!("with instance id {s:?}"),
            CvmRef::Name(s) => format!("named {s:?}"),
        }
    }
}

impl AsRef<str> for CvmRef {
    /// What a `{cvm_id}` path takes (an app id with its `app_` prefix).
    fn as_ref(&self) -> &str {
        match self {
            CvmRef::Id(s) | CvmRef::Uuid(s) | CvmRef::App(s) | CvmRef::Instance(s) | CvmRef::Name(s) => s,
        }
    }
}

impl std::fmt::Display for CvmRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_ref())
    }
}

impl From<&str> for CvmRef {
    fn from(s: &str) -> Self {
        CvmRef::parse(s)
    }
}

impl From<String> for CvmRef {
    fn from(s: String) -> Self {
        CvmRef::parse(&s)
    }
}

impl From<&String> for CvmRef {
    fn from(s: &String) -> Self {
        CvmRef::parse(s)
    }
}

impl From<&Cvm> for CvmRef {
    /// Its hashed id where the listing has one, else its VM UUID, else its name.
    fn from(cvm: &Cvm) -> Self {
        match (cvm.id(), cvm.vm_uuid()) {
            (Some(id), _) => CvmRef::Id(id),
            (None, Some(uuid)) => CvmRef::Uuid(uuid.to_string()),
            (None, None) => CvmRef::Name(cvm.name().to_string()),
        }
    }
}

impl AsRef<str> for Cvm {
    /// What a path takes to name it: its VM UUID (every shape has it), else its name.
    fn as_ref(&self) -> &str {
        self.vm_uuid().unwrap_or_else(|| self.name())
    }
}

/// One listed CVM, by the names a reference can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    pub id: Option<String>,
    pub uuid: Option<String>,
}

/// Every CVM of one listing, indexed by each form of reference.
pub(crate) struct Index {
    cvms: Vec<Named>,
    by: HashMap<(u8, String), Vec<usize>>,
}

impl Index {
    fn key(form: Form, s: &str) -> (u8, String) {
        let text = match form {
            Form::Uuid => canonical_uuid(s),
            _ => s.to_string(),
        };
        (form as u8, text)
    }

    fn of(listed: Vec<Cvm>) -> Self {
        let mut index = Index {
            cvms: Vec::with_capacity(listed.len()),
            by: HashMap::with_capacity(listed.len() * 4),
        };
        for cvm in listed {
            let at = index.cvms.len();
            let mut add = |form: Form, s: &str| index.by.entry(Self::key(form, s)).or_default().push(at);
            if let Some(id) = cvm.id() {
                add(Form::Id, &id);
            }
            if let Some(uuid) = cvm.vm_uuid() {
                add(Form::Uuid, uuid);
            }
            if let Some(app) = cvm.app_id() {
                add(Form::App, &format!("app_{app}"));
            }
            if let Some(instance) = cvm.instance_id() {
                add(Form::Instance, instance);
            }
            add(Form::Name, cvm.name());
            index.cvms.push(Named {
                id: cvm.id(),
                uuid: cvm.vm_uuid().map(str::to_string),
            });
        }
        index
    }

    /// The CVMs `r` names: all of an app's where `fleet`, else exactly one.
    pub(crate) fn find(&self, r: &CvmRef, fleet: bool) -> Result<Vec<Named>, Error> {
        let (form, text) = match r {
            CvmRef::Id(s) => (Form::Id, s),
            CvmRef::Uuid(s) => (Form::Uuid, s),
            CvmRef::App(s) => (Form::App, s),
            CvmRef::Instance(s) => (Form::Instance, s),
            CvmRef::Name(s) => (Form::Name, s),
        };
        let found: Vec<Named> = self
            .by
            .get(&Self::key(form, text))
            .map(|at| at.iter().map(|&i| self.cvms[i].clone()).collect())
            .unwrap_or_default();
        match found.len() {
            0 => Err(Error::NoSuchCvm(format!("no CVM {}", r.describe()))),
            1 => Ok(found),
            _ if fleet && form == Form::App => Ok(found),
            n => Err(Error::AmbiguousCvm {
                reference: r.to_string(),
                matches: n,
            }),
        }
    }
}

/// What one reference of a fleet call came to: the ids the call needs
/// (several for an app), or why there are none.
pub(crate) type Resolved = (String, Result<Vec<String>, Error>);

impl Client {
    /// One listing of the fleet, indexed by every form of reference: what a
    /// fleet call resolves references with, once for the whole batch.
    pub(crate) async fn index(&self) -> Result<Index, Error> {
        let listed: Vec<Cvm> = self.cvms(&ListFilter::default()).try_collect().await?;
        Ok(Index::of(listed))
    }

    /// `refs` (distinct, sendable) as the `want` form a batch endpoint takes
    /// (hashed ids or VM UUIDs), in order. References already in that form
    /// pass as they are; the others are resolved through one listing, made
    /// only if there are any. A listing that fails fails the call.
    pub(crate) async fn resolve(&self, refs: Vec<String>, want: Form) -> Result<Vec<Resolved>, Error> {
        if refs.iter().all(|r| form_of(r) == want) {
            return Ok(refs.into_iter().map(|r| (r.clone(), Ok(vec![r]))).collect());
        }
        let index = self.index().await?;
        Ok(refs
            .into_iter()
            .map(|r| {
                if form_of(&r) == want {
                    return (r.clone(), Ok(vec![r]));
                }
                let found = index.find(&CvmRef::parse(&r), true).and_then(|cvms| {
                    cvms.into_iter()
                        .map(|c| match want {
                            Form::Uuid => c.uuid,
                            _ => c.id,
                        })
                        .collect::<Option<Vec<String>>>()
                        .ok_or_else(|| {
                            Error::NoSuchCvm(format!("{r:?}: the listing of this API version gives no id to send"))
                        })
                });
                (r, found)
            })
            .collect())
    }

    /// Hashed id and VM UUID of every CVM `refs` name (one listing).
    pub(crate) async fn resolve_both(
        &self,
        refs: Vec<String>,
    ) -> Result<Vec<(String, Result<Vec<Named>, Error>)>, Error> {
        let index = self.index().await?;
        Ok(refs
            .into_iter()
            .map(|r| {
                let found = index.find(&CvmRef::parse(&r), true);
                (r, found)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_from_the_text() {
        let uuid = "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f";
        assert_eq!(form_of(uuid), Form::Uuid);
        assert_eq!(
            form_of(&uuid.replace('-', "")),
            Form::Uuid,
            "the TypeScript SDK strips dashes"
        );
        assert_eq!(form_of("cvm_ykL5lbAn"), Form::Id);
        assert_eq!(form_of("app_0a1b"), Form::App);
        assert_eq!(form_of(&"ab".repeat(20)), Form::Instance);
        for name in [
            "web-0",
            "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5",
            "",
            "über",
            "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e-f",
            "6e1c2a9e-0d9b-4f37-9a55x1f0c2b3d4e5f",
        ] {
            assert_eq!(form_of(name), Form::Name, "{name}");
        }
        assert_eq!(canonical_uuid(&uuid.replace('-', "").to_uppercase()), uuid);
        assert_eq!(CvmRef::parse("app_x").to_string(), "app_x");
        assert_eq!(CvmRef::app("x"), CvmRef::app("app_x"));
    }
}
