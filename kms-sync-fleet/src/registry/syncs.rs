//! [`Syncs`]: the KMS's Secret Syncs, stored as their create-sync definitions.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use kms_sync_core::{
    AppConnectionDefinition, DestinationIdentity, Error, ErrorKind, Ledger, Operation, Result,
    SecretSyncDefinition, StatusRecord,
};
use serde_json::{Map, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::body::{
    check_patch_fields, merge_sync_patch, object, settle_auto_sync, SYNC_PATCH_FIELDS,
};
use super::connections::Connections;
use super::ids::{ConnectionId, SyncId};
use super::jobs::{trigger_in, TriggerCause};
use super::patch::{drop_ledgers, PatchChanges, Written};
use super::rows::{get, get_u32, status, status_select};
use super::{check_description, has_code, Shared};
use crate::error;
use crate::pipeline::prepare_all;
use crate::state::RunFence;

/// The connection a sync uses, as the KMS shows it (`connection {app, name, id}`).
///
/// ```no_run
/// # async fn show(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
/// let c = registry.syncs().get(id).await?.connection;
/// println!("{} {} {}", c.app, c.name, c.id);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionRef {
    /// `connection.id` (also the sync's `connectionId`).
    pub id: ConnectionId,
    /// `connection.app`.
    pub app: String,
    /// `connection.name`.
    pub name: String,
}

/// A sync as the registry keeps it: the definition's fields, its connection, its version
/// and timestamps, and its status in the KMS's field names. `sync_options` and
/// `destination_config` are JSON objects as text, as they were written (key order aside).
///
/// ```no_run
/// # async fn show(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
/// let sync = registry.syncs().get(id).await?;
/// println!("{} → {} {} v{} {:?} {:?}", sync.secret_path, sync.destination, sync.destination_config,
///     sync.version, sync.status.sync_status, sync.status.last_sync_job_id);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyncRecord {
    /// `id`.
    pub id: SyncId,
    /// `name` (slug-friendly, unique in its project).
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `projectId`.
    pub project_id: Option<String>,
    /// `destination`: the kind, aliases resolved.
    pub destination: String,
    /// `connection` (`connectionId` is its id).
    pub connection: ConnectionRef,
    /// `environment.slug`.
    pub environment: String,
    /// `folder.path` (the create body's `secretPath`).
    pub secret_path: String,
    /// `isEnabled`.
    pub is_enabled: bool,
    /// `isAutoSyncEnabled` (also `syncOptions.autoSyncEnabled` when the options carry it).
    pub is_auto_sync_enabled: bool,
    /// `syncOptions`, a JSON object.
    pub sync_options: String,
    /// `destinationConfig`, a JSON object.
    pub destination_config: String,
    /// `version`: 1 at creation, one more at each update.
    pub version: u32,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `updatedAt`.
    pub updated_at: SystemTime,
    /// `syncStatus`, `lastSyncJobId`, … for sync, import and remove.
    pub status: StatusRecord,
}

/// A change to a sync: any of `name`, `description`, `connectionId`, `environment`,
/// `secretPath`, `isEnabled`, `isAutoSyncEnabled`, `syncOptions` (replaced whole) and
/// `destinationConfig` (replaced whole). The patched definition is checked whole, as a
/// create body is.
///
/// ```
/// use kms_sync_fleet::SyncPatch;
/// let patch = SyncPatch::from_json(r#"{"secretPath": "/other", "isAutoSyncEnabled": false}"#)?;
/// let patch = SyncPatch::new().enabled(false).description(None);
/// assert!(SyncPatch::from_json(r#"{"destination": "checkly"}"#).is_err());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct SyncPatch {
    fields: Map<String, Value>,
}

impl SyncPatch {
    /// A patch that changes nothing.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::new();
    /// ```
    pub fn new() -> SyncPatch {
        SyncPatch::default()
    }

    /// The KMS's update-sync body. Types are checked when the patch is applied, with the
    /// whole definition.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for invalid JSON, a body that is not an object, or a
    /// field that cannot be changed (`destination`, `projectId`) or is unknown.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::from_json(r#"{"destinationConfig": {"accountId": "a"}}"#)?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn from_json(body: &str) -> Result<SyncPatch> {
        let what = "sync update";
        let fields = object(body, what)?;
        check_patch_fields(&fields, SYNC_PATCH_FIELDS, what)?;
        Ok(SyncPatch { fields })
    }

    fn set(mut self, key: &str, value: Value) -> SyncPatch {
        self.fields.insert(key.to_owned(), value);
        self
    }

    /// Renames the sync.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::new().name("api-prod");
    /// ```
    pub fn name(self, name: impl Into<String>) -> SyncPatch {
        self.set("name", Value::String(name.into()))
    }

    /// Sets or clears the description.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::new().description(Some("prod".into()));
    /// ```
    pub fn description(self, description: Option<String>) -> SyncPatch {
        self.set(
            "description",
            description.map_or(Value::Null, Value::String),
        )
    }

    /// Another source: environment slug and secret path.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::new().source("prod", "/api");
    /// ```
    pub fn source(
        self,
        environment: impl Into<String>,
        secret_path: impl Into<String>,
    ) -> SyncPatch {
        self.set("environment", Value::String(environment.into()))
            .set("secretPath", Value::String(secret_path.into()))
    }

    /// Another connection (of the same app).
    ///
    /// ```
    /// # fn f(id: kms_sync_fleet::ConnectionId) {
    /// let patch = kms_sync_fleet::SyncPatch::new().connection(id);
    /// # }
    /// ```
    pub fn connection(self, id: ConnectionId) -> SyncPatch {
        self.set("connectionId", Value::String(id.to_string()))
    }

    /// Enables or disables the sync.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::new().enabled(false);
    /// ```
    pub fn enabled(self, enabled: bool) -> SyncPatch {
        self.set("isEnabled", Value::Bool(enabled))
    }

    /// Turns auto-sync on or off.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::new().auto_sync(true);
    /// ```
    pub fn auto_sync(self, enabled: bool) -> SyncPatch {
        self.set("isAutoSyncEnabled", Value::Bool(enabled))
    }

    /// Replaces `destinationConfig` with this JSON object.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) when it is not a JSON object.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::new()
    ///     .destination_config(r#"{"workspaceSlug": "acme", "repositorySlug": "web"}"#)?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn destination_config(self, json: &str) -> Result<SyncPatch> {
        let config = object(json, "destinationConfig")?;
        Ok(self.set("destinationConfig", Value::Object(config)))
    }

    /// Replaces `syncOptions` with this JSON object.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) when it is not a JSON object.
    ///
    /// ```
    /// let patch = kms_sync_fleet::SyncPatch::new()
    ///     .sync_options(r#"{"keySchema": "KMS_{{secretKey}}", "disableSecretDeletion": true}"#)?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn sync_options(self, json: &str) -> Result<SyncPatch> {
        let options = object(json, "syncOptions")?;
        Ok(self.set("syncOptions", Value::Object(options)))
    }
}

impl fmt::Debug for SyncPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncPatch")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What a worker needs to run a sync: its definition and its connection, credentials
/// included. `Debug` never shows a credential.
///
/// ```no_run
/// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
/// let resolved = registry.syncs().resolve(id).await?;
/// let destination = registry.destinations().build_destination(
///     &resolved.definition, &resolved.connection, kms_sync_core::http::ClientSettings::new())?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The sync's definition, as parsed now.
    pub definition: SecretSyncDefinition,
    /// Its connection, credentials decrypted or resolved.
    pub connection: AppConnectionDefinition,
}

/// One source that enabled auto-sync syncs read, and those syncs: what a poller reads
/// once per round.
///
/// ```no_run
/// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// for source in registry.syncs().sources().await? {
///     println!("{:?} {} {}: {} syncs", source.project_id, source.environment, source.secret_path, source.syncs.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Source {
    /// The KMS project.
    pub project_id: Option<String>,
    /// The environment slug.
    pub environment: String,
    /// The folder path.
    pub secret_path: String,
    /// The enabled auto-sync syncs on it.
    pub syncs: Vec<SyncId>,
}

/// The columns of a sync record, from `syncs s`, `connections c`, `sync_state st`.
pub(crate) fn record_select() -> String {
    format!(
        "SELECT s.id, s.name, s.description, s.project_id, s.destination, s.connection_id, \
         c.app AS connection_app, c.name AS connection_name, s.environment, s.secret_path, \
         s.is_enabled, s.is_auto_sync_enabled, s.sync_options, s.destination_config, \
         s.version, s.created_at, s.updated_at, {} \
         FROM {{s}}.syncs s JOIN {{s}}.connections c ON c.id = s.connection_id \
         JOIN {{s}}.sync_state st ON st.sync_id = s.id",
        status_select("st")
    )
}

/// The KMS's Secret Syncs in the registry. Get one from
/// [`SyncRegistry::syncs`](crate::SyncRegistry::syncs).
///
/// ```no_run
/// # async fn run(registry: kms_sync_fleet::SyncRegistry, body: &str) -> kms_sync_core::Result<()> {
/// let sync = registry.syncs().create("bitbucket", body).await?;
/// let same = registry.syncs().get_by_name(sync.project_id.as_deref(), &sync.name).await?;
/// assert_eq!(same.id, sync.id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Syncs {
    shared: Arc<Shared>,
}

debug_handle!(Syncs);

/// A validated definition and the parts of the body stored as JSON.
struct Checked {
    definition: SecretSyncDefinition,
    connection: ConnectionId,
    sync_options: Value,
    destination_config: Value,
}

impl Written {
    /// What `record` reads and whether it runs.
    fn of_record(record: &SyncRecord) -> Result<Written> {
        Ok(Written {
            environment: record.environment.clone(),
            secret_path: record.secret_path.clone(),
            sync_options: parse_stored(&record.sync_options)?,
            enabled: record.is_enabled,
            auto: record.is_auto_sync_enabled,
        })
    }

    /// What a checked body reads and whether it runs.
    fn of_checked(checked: &Checked) -> Written {
        let def = &checked.definition;
        Written {
            environment: def.environment().to_owned(),
            secret_path: def.secret_path().to_owned(),
            sync_options: checked.sync_options.clone(),
            enabled: def.is_enabled(),
            auto: def.auto_sync_enabled(),
        }
    }
}

impl Syncs {
    pub(crate) fn new(shared: Arc<Shared>) -> Syncs {
        Syncs { shared }
    }

    /// Parses a create-sync body for `destination` (the KMS puts it in the URL path), and
    /// checks it whole: the envelope and `destinationConfig` (by
    /// [`SecretSyncDefinition::parse`]), `connectionId` (required, an existing connection
    /// of the destination's app), and the connection with the config (by building the
    /// destination, offline).
    fn check(&self, destination: &str, body: &Map<String, Value>) -> Result<Checked> {
        let text = Value::Object(body.clone()).to_string();
        let definition =
            SecretSyncDefinition::parse(&text, Some(destination), &self.shared.destinations)?;
        check_description("sync definition", definition.description())?;
        let connection = definition
            .connection_id()
            .ok_or_else(|| Error::config("sync definition: `connectionId` is required"))?;
        let connection = ConnectionId::parse(connection).map_err(|e| {
            Error::config(format!("sync definition: connectionId: {}", e.message()))
        })?;
        let sync_options = body
            .get("syncOptions")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        let destination_config = body
            .get("destinationConfig")
            .cloned()
            .unwrap_or(Value::Null);
        Ok(Checked {
            definition,
            connection,
            sync_options,
            destination_config,
        })
    }

    /// Checks that the connection exists (locking it against deletion until the
    /// transaction ends), is of the destination's app, and makes a destination with the
    /// config.
    async fn check_connection<C: GenericClient>(
        &self,
        client: &C,
        checked: &Checked,
    ) -> Result<DestinationIdentity> {
        let id = checked.connection;
        let sql = self
            .shared
            .sql("SELECT app FROM {s}.connections WHERE id = $1 FOR KEY SHARE");
        let doing = format!("reading app connection {id}");
        let row = client
            .query_opt(&self.shared.prepared(client, &sql).await?, &[&id.0])
            .await
            .map_err(|e| error::db(&doing, e))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("sync definition: app connection {id} not found"),
                )
            })?;
        let app: String = get(&row, "app", "an app connection")?;
        let destination = checked.definition.destination();
        if app != destination {
            return Err(Error::config(format!(
                "sync definition: app connection {id} is a `{app}` connection; a `{destination}` \
                 sync needs a `{destination}` connection"
            )));
        }
        let connection = Connections::new(self.shared.clone())
            .definition_with(client, id)
            .await?;
        let built = self
            .shared
            .destinations
            .build_destination(
                &checked.definition,
                &connection,
                self.shared.settings.clone(),
            )
            .map_err(|e| {
                Error::config(format!(
                    "sync definition: app connection {id} and this destinationConfig do not make \
                     a `{destination}` destination: {}",
                    e.message()
                ))
            })?;
        Ok(built.info().identity.clone())
    }

    /// Creates a sync from the KMS's create-sync body for `destination` (a kind
    /// of the registry's destinations, or an alias of one), checked whole. A sync
    /// created enabled with auto-sync on is triggered at once (cause
    /// [`DefinitionChanged`](TriggerCause::DefinitionChanged)), in the same transaction:
    /// its status is `pending` with the job's id.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for any problem with the body (naming the field: a
    /// trailing comma, an unknown field, a `destinationConfig` the
    /// destination refuses, a connection of another app, …); [`NotFound`](ErrorKind::NotFound)
    /// when the connection does not exist; [`Conflict`](ErrorKind::Conflict) when the project
    /// has a sync of that name.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, conn: kms_sync_fleet::ConnectionId) -> kms_sync_core::Result<()> {
    /// let sync = registry.syncs().create("octopus-deploy", &format!(r#"{{
    ///     "name": "my-octopus-deploy-sync", "projectId": "p", "connectionId": "{conn}",
    ///     "environment": "dev", "secretPath": "/", "isAutoSyncEnabled": true,
    ///     "destinationConfig": {{"spaceId": "Spaces-1", "scope": "project", "projectId": "Projects-123"}}
    /// }}"#)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, destination: &str, body: &str) -> Result<SyncRecord> {
        let mut map = object(body, "sync definition")?;
        // Parse first, so a bad body is reported by the definition's parser.
        let auto = SecretSyncDefinition::parse(body, Some(destination), &self.shared.destinations)?
            .auto_sync_enabled();
        settle_auto_sync(&mut map, auto);
        let checked = self.check(destination, &map)?;
        let def = &checked.definition;
        let id = SyncId::random();
        let doing = format!("creating sync `{}`", def.name());
        let e = |err| error::db(&doing, err);
        let mut client = self.shared.pool.get(&doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        self.check_connection(&tx, &checked).await?;
        let insert = self.shared.sql(
            "INSERT INTO {s}.syncs (id, name, description, project_id, destination, \
             connection_id, environment, secret_path, is_enabled, is_auto_sync_enabled, \
             sync_options, destination_config) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        );
        tx.execute(
            &self.shared.prepared(&tx, &insert).await?,
            &[
                &id.0,
                &def.name(),
                &def.description(),
                &def.project_id(),
                &def.destination(),
                &checked.connection.0,
                &def.environment(),
                &def.secret_path(),
                &def.is_enabled(),
                &def.auto_sync_enabled(),
                &checked.sync_options,
                &checked.destination_config,
            ],
        )
        .await
        .map_err(|err| name_taken(err, &doing, def.name(), def.project_id()))?;
        let state = self
            .shared
            .sql("INSERT INTO {s}.sync_state (sync_id) VALUES ($1)");
        tx.execute(&self.shared.prepared(&tx, &state).await?, &[&id.0])
            .await
            .map_err(e)?;
        if def.is_enabled() && def.auto_sync_enabled() {
            trigger_in(
                &self.shared,
                &tx,
                &[id],
                Operation::Sync,
                TriggerCause::DefinitionChanged,
            )
            .await?;
        }
        let record = self.get_with(&tx, id).await?;
        tx.commit().await.map_err(e)?;
        Ok(record)
    }

    /// The sync `id`.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound) when there is none.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// let sync = registry.syncs().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: SyncId) -> Result<SyncRecord> {
        let client = self.shared.pool.get("reading a sync").await?;
        self.get_with(&client, id).await
    }

    async fn get_with<C: GenericClient>(&self, client: &C, id: SyncId) -> Result<SyncRecord> {
        let sql = self
            .shared
            .sql(&format!("{} WHERE s.id = $1", record_select()));
        let row = client
            .query_opt(&self.shared.prepared(client, &sql).await?, &[&id.0])
            .await
            .map_err(|e| error::db(&format!("reading sync {id}"), e))?
            .ok_or_else(|| not_found(id))?;
        record(&row)
    }

    /// The sync named `name` in `project_id` (`None`: syncs created without a project).
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound) when there is none.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// let sync = registry.syncs().get_by_name(Some("3c90c3cc-0d44-4b50-8888-8dd25736052a"), "my-checkly-sync").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_by_name(&self, project_id: Option<&str>, name: &str) -> Result<SyncRecord> {
        let doing = format!("reading sync `{name}`");
        let client = self.shared.pool.get(&doing).await?;
        let sql = self.shared.sql(&format!(
            "{} WHERE coalesce(s.project_id, '') = coalesce($1::text, '') AND s.name = $2",
            record_select()
        ));
        let row = client
            .query_opt(
                &self.shared.prepared(&client, &sql).await?,
                &[&project_id, &name],
            )
            .await
            .map_err(|e| error::db(&doing, e))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("no sync named `{name}`{}", in_project(project_id)),
                )
            })?;
        record(&row)
    }

    /// The syncs of `destination` (an alias is resolved), in `project_id` if given, oldest
    /// first.
    ///
    /// # Errors
    ///
    /// A database failure.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// let syncs = registry.syncs().list("bitbucket", None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(
        &self,
        destination: &str,
        project_id: Option<&str>,
    ) -> Result<Vec<SyncRecord>> {
        let kind = self
            .shared
            .destinations
            .factory(destination)
            .map(|f| f.kind())
            .unwrap_or(destination);
        let doing = format!("listing the {kind} syncs");
        let client = self.shared.pool.get(&doing).await?;
        let sql = self.shared.sql(&format!(
            "{} WHERE s.destination = $1 AND ($2::text IS NULL OR s.project_id = $2) \
             ORDER BY s.created_at, s.id",
            record_select()
        ));
        let rows = client
            .query(
                &self.shared.prepared(&client, &sql).await?,
                &[&kind, &project_id],
            )
            .await
            .map_err(|e| error::db(&doing, e))?;
        rows.iter().map(record).collect()
    }

    /// Applies `patch` and checks the result whole, as [`create`](Self::create) does;
    /// `version` increases by one. When the sync ends up enabled with auto-sync on and
    /// the patch changed what it writes (source, connection, `destinationConfig`,
    /// `syncOptions`) or enabled it or turned auto-sync on, it is triggered (cause
    /// [`DefinitionChanged`](TriggerCause::DefinitionChanged)). A new connection or
    /// `destinationConfig` means another destination: the sync's ledger is cleared.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), and [`NotFound`](ErrorKind::NotFound) for an unknown
    /// sync.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// let patch = kms_sync_fleet::SyncPatch::from_json(r#"{"isEnabled": false}"#)?;
    /// let sync = registry.syncs().update(id, patch).await?;
    /// assert!(!sync.is_enabled);
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: SyncId, patch: SyncPatch) -> Result<SyncRecord> {
        let doing = format!("updating sync {id}");
        let e = |err| error::db(&doing, err);
        let mut client = self.shared.pool.get(&doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        // NO KEY UPDATE: triggers, claims and finishes take KEY SHARE on the sync (their
        // foreign keys) while holding its state row, which this update's trigger needs.
        let lock = self.shared.sql(&format!(
            "{} WHERE s.id = $1 FOR NO KEY UPDATE OF s",
            record_select()
        ));
        let row = tx
            .query_opt(&self.shared.prepared(&tx, &lock).await?, &[&id.0])
            .await
            .map_err(e)?
            .ok_or_else(|| not_found(id))?;
        let current = record(&row)?;
        let mut body = body_of(&current)?;
        merge_sync_patch(&mut body, &patch.fields);
        let checked = self.check(&current.destination, &body)?;
        let identity = self.check_connection(&tx, &checked).await?;
        let before = self.identity_of(&tx, &current).await;
        let changes = PatchChanges::between(
            &Written::of_record(&current)?,
            &Written::of_checked(&checked),
            before.as_ref() != Some(&identity),
        );
        self.write_update(&tx, id, &checked, &doing, current.project_id.as_deref())
            .await?;
        self.apply_changes(&tx, id, changes).await?;
        let record = self.get_with(&tx, id).await?;
        tx.commit().await.map_err(e)?;
        Ok(record)
    }

    /// Writes a checked patch's columns, bumping the version.
    async fn write_update<C: GenericClient>(
        &self,
        tx: &C,
        id: SyncId,
        checked: &Checked,
        doing: &str,
        project: Option<&str>,
    ) -> Result<()> {
        let def = &checked.definition;
        let update = self.shared.sql(
            "UPDATE {s}.syncs SET name = $2, description = $3, connection_id = $4, \
             environment = $5, secret_path = $6, is_enabled = $7, is_auto_sync_enabled = $8, \
             sync_options = $9, destination_config = $10, version = version + 1, \
             updated_at = now() WHERE id = $1",
        );
        tx.execute(
            &self.shared.prepared(tx, &update).await?,
            &[
                &id.0,
                &def.name(),
                &def.description(),
                &checked.connection.0,
                &def.environment(),
                &def.secret_path(),
                &def.is_enabled(),
                &def.auto_sync_enabled(),
                &checked.sync_options,
                &checked.destination_config,
            ],
        )
        .await
        .map_err(|err| name_taken(err, doing, def.name(), project))?;
        Ok(())
    }

    /// What a patch's changes call for: the ledger dropped (another destination), the sync
    /// triggered.
    async fn apply_changes<C: GenericClient>(
        &self,
        tx: &C,
        id: SyncId,
        changes: PatchChanges,
    ) -> Result<()> {
        if changes.new_destination {
            drop_ledgers(&self.shared, tx, &[id]).await?;
        }
        if changes.trigger {
            trigger_in(
                &self.shared,
                tx,
                &[id],
                Operation::Sync,
                TriggerCause::DefinitionChanged,
            )
            .await?;
        }
        Ok(())
    }

    /// The identity of the destination `record` builds today, or `None` when it cannot be
    /// built (its connection cannot be read): then only a new identity is known, and the
    /// ledger is kept (the engine refuses it before any write if it describes another).
    async fn identity_of<C: GenericClient>(
        &self,
        client: &C,
        record: &SyncRecord,
    ) -> Option<DestinationIdentity> {
        let definition = definition_of(&self.shared, record).ok()?;
        let connection = Connections::new(self.shared.clone())
            .definition_with(client, record.connection.id)
            .await
            .ok()?;
        let built = self
            .shared
            .destinations
            .build_destination(&definition, &connection, self.shared.settings.clone())
            .ok()?;
        Some(built.info().identity.clone())
    }

    /// Deletes sync `id` with its status, triggers, run history and ledger, and returns it
    /// as it was. Nothing is removed at the destination: to remove what it synced first,
    /// trigger [`Operation::Remove`] and wait for it to finish. A worker running it when it
    /// is deleted finds its claim gone ([`NotFound`](ErrorKind::NotFound)) when it finishes.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound) when there is none.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// let gone = registry.syncs().delete(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: SyncId) -> Result<SyncRecord> {
        let doing = format!("deleting sync {id}");
        let e = |err| error::db(&doing, err);
        let mut client = self.shared.pool.get(&doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        // The state row first, as every job operation locks it before the sync's row.
        let state = self
            .shared
            .sql("SELECT 1 FROM {s}.sync_state WHERE sync_id = $1 FOR UPDATE");
        tx.execute(&self.shared.prepared(&tx, &state).await?, &[&id.0])
            .await
            .map_err(e)?;
        let lock = self.shared.sql(&format!(
            "{} WHERE s.id = $1 FOR UPDATE OF s",
            record_select()
        ));
        let row = tx
            .query_opt(&self.shared.prepared(&tx, &lock).await?, &[&id.0])
            .await
            .map_err(e)?
            .ok_or_else(|| not_found(id))?;
        let record = record(&row)?;
        let delete = self.shared.sql("DELETE FROM {s}.syncs WHERE id = $1");
        let forget = self
            .shared
            .sql("DELETE FROM {s}.ledgers WHERE sync_id = $1");
        tx.execute(&self.shared.prepared(&tx, &delete).await?, &[&id.0])
            .await
            .map_err(e)?;
        tx.execute(
            &self.shared.prepared(&tx, &forget).await?,
            &[&id.to_string()],
        )
        .await
        .map_err(e)?;
        tx.commit().await.map_err(e)?;
        Ok(record)
    }

    /// The sync's definition, parsed (and so checked) now with the registry's
    /// destinations, for a worker to build its `Syncer` from. Use the sync's id, not its
    /// name, as the `Syncer`'s id: `.id(sync_id.to_string())`.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound); [`Config`](ErrorKind::Config) when the stored
    /// definition no longer parses (a destination kind this build lacks).
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// let def = registry.syncs().definition(id).await?;
    /// println!("{} {}", def.environment(), def.secret_path());
    /// # Ok(()) }
    /// ```
    pub async fn definition(&self, id: SyncId) -> Result<SecretSyncDefinition> {
        let record = self.get(id).await?;
        definition_of(&self.shared, &record)
    }

    /// The definition and the connection (credentials decrypted or resolved) of sync
    /// `id`: everything a worker needs to build its destination.
    ///
    /// # Errors
    ///
    /// As [`definition`](Self::definition) and
    /// [`Connections::definition`](crate::Connections::definition).
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::SyncId) -> kms_sync_core::Result<()> {
    /// let resolved = registry.syncs().resolve(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn resolve(&self, id: SyncId) -> Result<Resolved> {
        let client = self.shared.pool.get("resolving a sync").await?;
        let record = self.get_with(&client, id).await?;
        let definition = definition_of(&self.shared, &record)?;
        let connection = Connections::new(self.shared.clone())
            .definition_with(&client, record.connection.id)
            .await?;
        Ok(Resolved {
            definition,
            connection,
        })
    }

    /// [`resolve`](Self::resolve) and the sync's ledger, read in one round trip (three
    /// statements sent together on one connection): everything a run reads before it
    /// reads its source.
    pub(crate) async fn resolve_for_run(
        &self,
        id: SyncId,
    ) -> Result<(Resolved, Option<Ledger>, RunFence)> {
        let doing = format!("reading sync {id} for its run");
        let client = self.shared.pool.get(&doing).await?;
        let sql = &self.shared.jobs;
        let [sync, connection, load] = prepare_all(
            &client,
            [
                &sql.run_sync,
                &sql.run_connection,
                self.shared.ledger.load_sql(),
            ],
            &doing,
        )
        .await?;
        let ledger_id = id.to_string();
        let by_id: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id.0];
        let by_ledger: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&ledger_id];
        let (sync, connection, ledger) = futures::try_join!(
            client.query_opt(&sync, &by_id),
            client.query_opt(&connection, &by_id),
            client.query(&load, &by_ledger),
        )
        .map_err(|e| error::db(&doing, e))?;
        let record = record(&sync.ok_or_else(|| not_found(id))?)?;
        let definition = definition_of(&self.shared, &record)?;
        let connection = connection.ok_or_else(|| not_found(id))?;
        let fence = RunFence {
            sync_version: record.version,
            connection_version: get_u32(&connection, "version", "an app connection")?,
        };
        let connection = Connections::new(self.shared.clone())
            .definition_of_row(record.connection.id, &connection)
            .await?;
        let ledger = self.shared.ledger.ledger_of(&ledger_id, &ledger)?;
        Ok((
            Resolved {
                definition,
                connection,
            },
            ledger,
            fence,
        ))
    }

    /// Every source that enabled auto-sync syncs read, with those syncs: a poller reads
    /// each source once per round and triggers its syncs with
    /// [`Jobs::trigger_many`](crate::Jobs::trigger_many).
    ///
    /// # Errors
    ///
    /// A database failure.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// let sources = registry.syncs().sources().await?;
    /// # Ok(()) }
    /// ```
    pub async fn sources(&self) -> Result<Vec<Source>> {
        let doing = "listing the sources of auto-sync syncs";
        let client = self.shared.pool.get(doing).await?;
        let sql = self.shared.sql(
            "SELECT project_id, environment, secret_path, array_agg(id ORDER BY id) AS ids \
             FROM {s}.syncs WHERE is_enabled AND is_auto_sync_enabled \
             GROUP BY project_id, environment, secret_path \
             ORDER BY project_id, environment, secret_path",
        );
        let rows = client
            .query(&self.shared.prepared(&client, &sql).await?, &[])
            .await
            .map_err(|e| error::db(doing, e))?;
        rows.iter()
            .map(|row| {
                let what = "a source";
                let ids: Vec<uuid::Uuid> = get(row, "ids", what)?;
                Ok(Source {
                    project_id: get(row, "project_id", what)?,
                    environment: get(row, "environment", what)?,
                    secret_path: get(row, "secret_path", what)?,
                    syncs: ids.into_iter().map(SyncId).collect(),
                })
            })
            .collect()
    }
}

/// The create body a record stands for.
fn body_of(record: &SyncRecord) -> Result<Map<String, Value>> {
    let mut body = Map::new();
    let mut put = |k: &str, v: Value| {
        body.insert(k.to_owned(), v);
    };
    put("name", Value::String(record.name.clone()));
    if let Some(d) = &record.description {
        put("description", Value::String(d.clone()));
    }
    if let Some(p) = &record.project_id {
        put("projectId", Value::String(p.clone()));
    }
    put(
        "connectionId",
        Value::String(record.connection.id.to_string()),
    );
    put("environment", Value::String(record.environment.clone()));
    put("secretPath", Value::String(record.secret_path.clone()));
    put("isEnabled", Value::Bool(record.is_enabled));
    put(
        "isAutoSyncEnabled",
        Value::Bool(record.is_auto_sync_enabled),
    );
    put("syncOptions", parse_stored(&record.sync_options)?);
    put(
        "destinationConfig",
        parse_stored(&record.destination_config)?,
    );
    Ok(body)
}

fn parse_stored(json: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|_| Error::unexpected("a sync's stored JSON cannot be read"))
}

/// The definition of a record, parsed with the registry's destinations.
fn definition_of(shared: &Shared, record: &SyncRecord) -> Result<SecretSyncDefinition> {
    let body = Value::Object(body_of(record)?).to_string();
    SecretSyncDefinition::parse(&body, Some(&record.destination), &shared.destinations)
}

fn in_project(project: Option<&str>) -> String {
    project.map_or_else(
        || " without a project".to_owned(),
        |p| format!(" in project {p}"),
    )
}

fn not_found(id: SyncId) -> Error {
    Error::new(ErrorKind::NotFound, format!("sync {id} not found"))
}

/// A unique violation on the name as a conflict; anything else as a database error.
fn name_taken(err: tokio_postgres::Error, doing: &str, name: &str, project: Option<&str>) -> Error {
    if has_code(&err, &SqlState::UNIQUE_VIOLATION) {
        return Error::new(
            ErrorKind::Conflict,
            format!(
                "a sync named `{name}` already exists{}",
                in_project(project)
            ),
        );
    }
    if has_code(&err, &SqlState::FOREIGN_KEY_VIOLATION) {
        return Error::new(
            ErrorKind::NotFound,
            "sync definition: the app connection was deleted meanwhile",
        );
    }
    error::db(doing, err)
}

/// A sync row (with its connection's app and name, and its status) as a record.
fn record(row: &Row) -> Result<SyncRecord> {
    let what = "a sync";
    let options: Value = get(row, "sync_options", what)?;
    let config: Value = get(row, "destination_config", what)?;
    Ok(SyncRecord {
        id: SyncId(get(row, "id", what)?),
        name: get(row, "name", what)?,
        description: get(row, "description", what)?,
        project_id: get(row, "project_id", what)?,
        destination: get(row, "destination", what)?,
        connection: ConnectionRef {
            id: ConnectionId(get(row, "connection_id", what)?),
            app: get(row, "connection_app", what)?,
            name: get(row, "connection_name", what)?,
        },
        environment: get(row, "environment", what)?,
        secret_path: get(row, "secret_path", what)?,
        is_enabled: get(row, "is_enabled", what)?,
        is_auto_sync_enabled: get(row, "is_auto_sync_enabled", what)?,
        sync_options: options.to_string(),
        destination_config: config.to_string(),
        version: get_u32(row, "version", what)?,
        created_at: get(row, "created_at", what)?,
        updated_at: get(row, "updated_at", what)?,
        status: status(row, what)?,
    })
}
