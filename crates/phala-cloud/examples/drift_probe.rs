//! Compiled only by the `drift_reaches_users` test (feature `drift-probe`),
//! against a client regenerated with one extra overlay that adds
//! `drift_probe_note` to `CvmStatus`, as if Phala had published it. It reads
//! the new field from what the facade returns, with no facade edit: proof
//! that a field added to the document reaches facade users by regeneration
//! alone. Without the extra overlay it must not compile.

async fn probe(client: &phala_cloud::Client) -> Option<String> {
    let statuses = client.status_many(["a-vm-uuid"]).await.ok()?;
    statuses.get("a-vm-uuid")?.drift_probe_note.clone()
}

fn main() {
    let _ = probe;
}
