//! `GET /api/v1/secret-syncs/{destination}…` and the triggers by id: a bad name, id or
//! destination answers its status in the KMS's envelope, and reads change nothing.

use kms_sync_core::Result;
use reqwest::Method;

use crate::support::{request, Refusal, Seeded, SAMPLE_PROJECT, SYNCS, UNKNOWN_ID};

/// `GET path` refused with `status`, mentioning `needle`.
fn get(promise: impl Into<String>, path: String, status: u16, needle: &'static str) -> Refusal {
    Refusal::new(promise, request(Method::GET, path, None), status, needle)
}

/// A sync name that traverses or is not a slug answers 422 naming `syncName`.
fn bad_names() -> Vec<Refusal> {
    let names = [
        "..%2F..%2Fetc%2Fpasswd",
        "...",
        "a.b",
        "my-sync%00",
        "My-Sync",
        "a%5Cb",
        "%2E%2E%2Fx",
    ];
    names
        .iter()
        .map(|name| {
            let url = format!("{SYNCS}/sync-name/{name}?projectId={SAMPLE_PROJECT}");
            get(
                format!("sync name {name} answers 422"),
                url,
                422,
                "syncName",
            )
        })
        .collect()
}

/// Each bad id, unknown sync or wrong destination, named for the promise it holds.
fn bad_ids(s: &Seeded) -> Vec<Refusal> {
    let trigger = format!("{SYNCS}/{UNKNOWN_ID}/sync-secrets");
    let import = format!("{SYNCS}/{UNKNOWN_ID}/import-secrets?importBehavior=sideways");
    let checkly = format!("/api/v1/secret-syncs/checkly/{}", s.sync_id);
    vec![
        get(
            "a sync id that is not one answers 422",
            format!("{SYNCS}/..%2F..%2Fetc"),
            422,
            "syncId",
        ),
        get(
            "a sync id that is not a uuid answers 422 at syncId",
            format!("{SYNCS}/not-a-uuid"),
            422,
            "syncId",
        )
        .at(&["syncId"]),
        get(
            "an unknown sync answers 404",
            format!("{SYNCS}/{UNKNOWN_ID}"),
            404,
            "not found",
        ),
        Refusal::new(
            "an unknown sync's trigger answers 404",
            request(Method::POST, trigger, Some("")),
            404,
            "not found",
        ),
        Refusal::new(
            "an unknown import behaviour answers 422 at importBehavior",
            request(Method::POST, import, Some("")),
            422,
            "importBehavior",
        )
        .at(&["importBehavior"]),
        get(
            "a sync under another destination answers 400 naming it",
            checkly,
            400,
            "is not configured for Checkly",
        ),
        get(
            "syncs of an unknown destination answer 404 naming it",
            "/api/v1/secret-syncs/vault?projectId=p".into(),
            404,
            "vault",
        ),
        get(
            "a list without projectId answers 422 naming it",
            SYNCS.into(),
            422,
            "projectId",
        ),
    ]
}

#[tokio::test]
async fn reads_by_a_bad_name_id_or_destination_answer_their_status_and_change_nothing() -> Result<()>
{
    seeded!("reads_by_bad_name_id_or_destination")
        .refuses(|s| Ok([bad_names(), bad_ids(s)].into_iter().flatten().collect()))
        .await
}
