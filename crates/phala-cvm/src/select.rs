//! Which CVMs a command acts on: the references given, or a whole
//! workspace or app after confirmation.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use phala_cloud::{Client, Cvm, Error, ListFilter};

use crate::cli::{CvmSelect, UuidSelect};

pub(crate) async fn select_uuids(client: &Client, select: &UuidSelect) -> Result<Vec<String>, Error> {
    if select.all {
        let cvms = client.list_cvms(&ListFilter::default()).await?;
        return Ok(cvms.iter().filter_map(|c| c.vm_uuid().map(str::to_string)).collect());
    }
    Ok(select.uuids.clone())
}

/// Asks on a terminal; refuses in a script.
pub(crate) fn confirm(verb: &str, n: usize, what: &str) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::InvalidInput(format!(
            "refusing to {verb} {n} CVMs ({what}) without --yes: not a terminal"
        )));
    }
    let warning = if verb == "delete" {
        " This cannot be undone."
    } else {
        ""
    };
    let mut title = verb.to_string();
    title[..1].make_ascii_uppercase();
    eprint!("{title} {n} CVMs ({what})?{warning} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::InvalidInput("aborted".into()))
    }
}

/// The CVMs a lifecycle command acts on: the ids given, or every CVM of
/// the workspace or app (after confirmation); and the VM UUIDs the list
/// knows for them, for waiting.
pub(crate) async fn select_cvms(
    client: &Client,
    verb: &str,
    select: &CvmSelect,
    need_uuids: bool,
) -> Result<(Vec<String>, BTreeMap<String, String>), Error> {
    let bulk = select.all || select.app.is_some();
    let listed: Vec<Cvm> = match (&select.app, bulk || need_uuids) {
        (Some(app), _) => client.app_cvms(app).await?,
        (None, true) => client.list_cvms(&ListFilter::default()).await?,
        (None, false) => Vec::new(),
    };
    let key = |c: &Cvm| c.id().or_else(|| c.vm_uuid().map(str::to_string));
    let uuid_of: BTreeMap<String, String> = listed
        .iter()
        .filter_map(|c| Some((key(c)?, c.vm_uuid()?.to_string())))
        .collect();
    let targets: Vec<String> = if bulk {
        listed.iter().filter_map(key).collect()
    } else {
        select.ids.clone()
    };
    let scope = match (&select.app, select.all) {
        (Some(_), _) => "every replica of the app",
        (None, true) => "the whole workspace",
        (None, false) => "as given",
    };
    if !select.yes && (bulk || verb == "delete") {
        confirm(verb, targets.len(), scope)?;
    }
    Ok((targets, uuid_of))
}
