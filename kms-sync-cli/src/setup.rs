//! From arguments to a ready [`Syncer`]: the definition and connection files, the source, the
//! client settings, the options and the ledger.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kms_sync::http::ClientSettings;
use kms_sync::net::{AllowEntry, UrlGuard, UrlPolicy};
use kms_sync::{
    parse_definition, syncer_builder, AppConnectionDefinition, DeletionGuard, DestinationIdentity,
    DotenvSource, Error, Fingerprinter, JsonFileStateStore, Progress, Result, SecretSource,
    SecretSyncDefinition, StopSignal, SyncOptions, Syncer,
};
use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};

use crate::args::{GuardArgs, LedgerArgs, RunArgs, SourceArgs, TargetArgs};

/// The two files every command reads, checked whole.
pub struct Loaded {
    pub definition: SecretSyncDefinition,
    pub connection: AppConnectionDefinition,
}

fn read(path: &Path, flag: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::config(format!("cannot read --{flag} {}: {e}", path.display())))
}

/// Reads and checks the definition (its `destinationConfig` too) and the connection.
pub fn load(target: &TargetArgs) -> Result<Loaded> {
    let text = read(&target.definition, "definition")?;
    let definition = parse_definition(&text, target.destination.as_deref())
        .map_err(|e| Error::config(format!("{}: {}", target.definition.display(), e.message())))?;
    let text = read(&target.connection, "connection")?;
    let connection = AppConnectionDefinition::from_json(&text)
        .map_err(|e| Error::config(format!("{}: {}", target.connection.display(), e.message())))?;
    Ok(Loaded {
        definition,
        connection,
    })
}

/// The destination's transport settings from the flags.
pub fn settings(target: &TargetArgs) -> ClientSettings {
    let mut settings = ClientSettings::new().with_url_guard(UrlGuard::new(url_policy(target)));
    if let Some(url) = &target.base_url {
        settings = settings.with_base_url(url.clone());
    }
    if let Some(budget) = target.rate_budget {
        settings = settings.with_rate_budget(budget);
    }
    if let Some(n) = target.concurrency {
        settings = settings.with_concurrency(usize::from(n));
    }
    settings
}

/// The URL policy for the connection's URLs: public HTTPS, plus the --allow-address entries
/// and the --base-url the operator gave (as typed: `http://` allowed if written so).
pub fn url_policy(target: &TargetArgs) -> UrlPolicy {
    let mut policy = UrlPolicy::public_only();
    for entry in &target.allow_address {
        policy = policy.allow(entry.clone());
    }
    let given = target
        .base_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    if let Some(url) = given {
        if let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) {
            policy = policy.allow(AllowEntry::Host {
                host: host.to_ascii_lowercase(),
                port,
                plain_http: url.scheme() == "http",
            });
        }
    }
    policy
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// The dotenv file, or the KMS folder the definition names.
pub fn source(args: &SourceArgs, def: &SecretSyncDefinition) -> Result<Arc<dyn SecretSource>> {
    if let Some(path) = &args.dotenv {
        return Ok(Arc::new(DotenvSource::new(
            path,
            def.environment().to_owned(),
        )));
    }
    let project = match (non_empty(args.kms_project.as_deref()), def.project_id()) {
        (Some(slug), _) => ProjectRef::Slug(slug.to_owned()),
        (None, Some(id)) => ProjectRef::Id(id.to_owned()),
        (None, None) => {
            return Err(Error::config(
                "no source: give --dotenv <FILE>, or --kms-project <SLUG> (or a projectId in the definition) for the KMS",
            ))
        }
    };
    let auth = match (
        non_empty(args.kms_client_id.as_deref()),
        args.kms_client_secret.as_ref().map(|s| s.expose()),
        args.kms_access_token.as_ref().map(|s| s.expose()),
    ) {
        (Some(id), Some(secret), _) if !secret.is_empty() => KmsAuth::universal(id, secret),
        (_, _, Some(token)) if !token.is_empty() => KmsAuth::access_token(token),
        _ => {
            return Err(Error::config(
                "the KMS source needs KMS_CLIENT_ID and KMS_CLIENT_SECRET (a machine identity), or KMS_ACCESS_TOKEN; or read a file with --dotenv <FILE>",
            ))
        }
    };
    let location = KmsLocation::new(project, def.environment(), def.secret_path())?;
    let mut builder = HanzoSource::builder(auth, location);
    if let Some(url) = non_empty(args.kms_url.as_deref()) {
        builder = builder.with_base_url(url.to_owned());
    }
    Ok(Arc::new(builder.build()?))
}

/// The definition's options with the guard, concurrency and deadline flags.
pub fn options(def: &SecretSyncDefinition, guard: &GuardArgs, target: &TargetArgs) -> SyncOptions {
    let mut deletion = DeletionGuard::default().with_allow_empty_source(guard.allow_empty_source);
    if let Some(share) = guard.max_delete_share {
        deletion = deletion.with_max_delete_share(share);
    }
    let mut options = def.sync_options().with_deletion_guard(deletion);
    if let Some(n) = target.concurrency {
        options = options.with_concurrency(usize::from(n));
    }
    if let Some(deadline) = guard.deadline {
        options = options.with_deadline(deadline);
    }
    options
}

/// Where the ledger is kept, if anywhere.
pub enum LedgerPlace {
    /// A file.
    File(PathBuf),
    /// None: KMS_SYNC_STATE_KEY is not set (or --no-state).
    None { asked_off: bool },
}

/// The platform's state directory for kms-sync: `$XDG_STATE_HOME/kms-sync` or
/// `~/.local/state/kms-sync` on Linux; the local data directory where a platform has no
/// state directory (macOS, Windows).
pub fn state_dir() -> Option<PathBuf> {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("kms-sync"))
}

/// The per-sync ledger file in the state directory: `<kind>-<name>-<digest>.json`, where
/// `<digest>` is the short digest of the destination's identity (kind and every field that
/// picks its scope), so two syncs of one name on two destinations keep two ledgers.
pub fn default_state_file(
    def: &SecretSyncDefinition,
    destination: &DestinationIdentity,
) -> Option<PathBuf> {
    let name = format!(
        "{}-{}-{}.json",
        def.destination(),
        def.name(),
        destination.short_digest()
    );
    state_dir().map(|d| d.join(name))
}

/// The file ledgers were kept in before they were bound to their destination.
fn legacy_state_file(def: &SecretSyncDefinition) -> Option<PathBuf> {
    state_dir().map(|d| d.join(format!("{}-{}.json", def.destination(), def.name())))
}

/// Refuses when a ledger of the old, destination-blind name exists and this destination has
/// none yet: it may describe this destination (its keys would be left unowned if ignored) or
/// another of the same sync name (its entries would pass for this one's if adopted), and
/// only the operator knows which. Nothing is written; the message says how to go on.
fn refuse_legacy_file(
    def: &SecretSyncDefinition,
    path: &Path,
    destination: &DestinationIdentity,
) -> Result<()> {
    let Some(legacy) = legacy_state_file(def).filter(|l| l.exists()) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    Err(Error::config(format!(
        "a ledger of the old, destination-blind name exists ({}) and {destination} has none yet \
         ({}); nothing was written. If the old ledger describes {destination}, rename it to the \
         new name; if it describes another destination of this sync name, run that one first \
         (it will ask the same), or pass --state <FILE> to choose a ledger",
        legacy.display(),
        path.display()
    )))
}

/// Decides where the ledger lives: `--state`, or by default a per-sync, per-destination file
/// in the state directory when KMS_SYNC_STATE_KEY is set; none without a key or with
/// `--no-state`.
pub fn ledger(
    args: &LedgerArgs,
    def: &SecretSyncDefinition,
    destination: &DestinationIdentity,
) -> Result<(LedgerPlace, Option<Fingerprinter>)> {
    if args.no_state {
        return Ok((LedgerPlace::None { asked_off: true }, None));
    }
    let key = args
        .state_key
        .as_ref()
        .map(|k| k.expose())
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return match &args.state {
            Some(path) => Err(Error::config(format!(
                "--state {} needs the ledger's HMAC key in KMS_SYNC_STATE_KEY (16+ random bytes, kept across runs)",
                path.display()
            ))),
            None => Ok((LedgerPlace::None { asked_off: false }, None)),
        };
    };
    let fingerprinter = Fingerprinter::new(key.as_bytes().to_vec())
        .map_err(|e| Error::config(format!("KMS_SYNC_STATE_KEY: {}", e.message())))?;
    let path = match &args.state {
        Some(path) => path.clone(),
        None => {
            let path = default_state_file(def, destination).ok_or_else(|| {
                Error::config(
                    "no state directory is known on this system (no HOME): give --state <FILE>",
                )
            })?;
            refuse_legacy_file(def, &path, destination)?;
            path
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    Ok((LedgerPlace::File(path), Some(fingerprinter)))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        Error::config(format!(
            "cannot create the state directory {}: {e}",
            dir.display()
        ))
    })
}

/// Everything a run needs, built.
pub struct Built {
    pub syncer: Syncer,
    pub ledger: LedgerPlace,
}

/// Builds the syncer for plan, sync, remove and watch.
pub fn build(
    args: &RunArgs,
    loaded: &Loaded,
    progress: Arc<Progress>,
    stop: StopSignal,
) -> Result<Built> {
    let def = &loaded.definition;
    let source = source(&args.source, def)?;
    let mut builder = syncer_builder(def, &loaded.connection, source, settings(&args.target))?
        .options(options(def, &args.guard, &args.target))
        .progress(progress)
        .stop_signal(stop);
    let identity = builder
        .destination_info()
        .map(|info| info.identity.clone())
        .ok_or_else(|| Error::unexpected("the sync's destination was not built"))?;
    let (ledger, fingerprinter) = ledger(&args.ledger, def, &identity)?;
    if let (LedgerPlace::File(path), Some(fingerprinter)) = (&ledger, fingerprinter) {
        builder = builder.state(
            Arc::new(JsonFileStateStore::new(path.clone())),
            fingerprinter,
        );
    }
    Ok(Built {
        syncer: builder.build()?,
        ledger,
    })
}
