//! [`Connections`]: the KMS's app connections, credentials encrypted or resolved.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use kms_sync_core::{AppConnectionDefinition, Error, ErrorKind, Result};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::body::{canonical, check_patch_fields, credentials_of, object, public_part};
use super::ids::{ConnectionId, SyncId};
use super::patch::drop_ledgers;
use super::rows::{get, get_u32};
use super::urls::check_credential_urls;
use super::{check_description, has_code, slug_friendly, Shared};
use crate::crypto::Sealed;
use crate::error;

/// The longest connection name (the KMS's slug limit).
const MAX_NAME: usize = 64;

/// What a connection's definition is built from (`{s}` the schema), before its `WHERE`.
pub(crate) const CREDENTIALS: &str =
    "SELECT name, description, project_id, method, key_id, nonce, ciphertext, version \
     FROM {s}.connections";

/// An app connection as the registry keeps it: never a secret credential. `credentials`
/// holds only the fields its kind's factory declares public (its
/// [`facts`](kms_sync_core::DestinationFactory::facts)), as a JSON object.
///
/// ```no_run
/// # async fn show(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::ConnectionId) -> kms_sync_core::Result<()> {
/// let conn = registry.connections().get(id).await?;
/// println!("{} ({}, {}) credentials {} hash {:?} v{}", conn.name, conn.app, conn.method,
///     conn.credentials, conn.credentials_hash, conn.version);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// `id`.
    pub id: ConnectionId,
    /// `app`: a kind of the registry's destinations (aliases resolved).
    pub app: String,
    /// `name` (slug-friendly, unique in its project).
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `projectId`.
    pub project_id: Option<String>,
    /// `method`, e.g. `api-token`.
    pub method: String,
    /// `credentials`: the fields that are not secret, as a JSON object.
    pub credentials: String,
    /// `credentialsHash`: HMAC-SHA256 of the credentials under a key derived from the
    /// encryption key (hex); `None` when a resolver holds the credentials.
    pub credentials_hash: Option<String>,
    /// The id of the key the credentials are encrypted with; `None` when resolved.
    pub key_id: Option<String>,
    /// `version`: 1 at creation, one more at each update.
    pub version: u32,
    /// `createdAt`.
    pub created_at: SystemTime,
    /// `updatedAt`.
    pub updated_at: SystemTime,
}

/// A change to a connection: its name, its description, or its credentials replaced whole
/// (with, optionally, another method). `Debug` never shows the credentials.
///
/// ```
/// use kms_sync_fleet::ConnectionPatch;
/// let patch = ConnectionPatch::from_json(r#"{"description": "rotated in June",
///     "credentials": {"email": "user@example.com", "apiToken": "ATATT-new"}}"#)?;
/// assert!(!format!("{patch:?}").contains("ATATT"));
/// let patch = ConnectionPatch::new().name("renamed").description(None);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Default)]
pub struct ConnectionPatch {
    name: Option<String>,
    description: Option<Option<String>>,
    method: Option<String>,
    credentials: Option<SecretString>,
}

impl ConnectionPatch {
    /// A patch that changes nothing.
    ///
    /// ```
    /// let patch = kms_sync_fleet::ConnectionPatch::new();
    /// ```
    pub fn new() -> ConnectionPatch {
        ConnectionPatch::default()
    }

    /// The KMS's update-connection body: `{"name"?, "description"?, "method"?,
    /// "credentials"?}` (a `null` description clears it).
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for invalid JSON, another field, a value of the wrong
    /// type, or credentials that are not an object — never echoing a credential.
    ///
    /// ```
    /// let patch = kms_sync_fleet::ConnectionPatch::from_json(r#"{"name": "renamed"}"#)?;
    /// assert!(kms_sync_fleet::ConnectionPatch::from_json(r#"{"app": "checkly"}"#).is_err());
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn from_json(body: &str) -> Result<ConnectionPatch> {
        let what = "app connection update";
        let mut map = object(body, what)?;
        check_patch_fields(
            &map,
            &["name", "description", "method", "credentials"],
            what,
        )?;
        let text = |map: &mut Map<String, Value>, key: &str| -> Result<Option<String>> {
            match map.remove(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(Error::config(format!("{what}: `{key}` must be a string"))),
            }
        };
        let name = text(&mut map, "name")?;
        let method = text(&mut map, "method")?;
        let description = match map.remove("description") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(_) => {
                return Err(Error::config(format!(
                    "{what}: `description` must be a string or null"
                )))
            }
        };
        let credentials = match map.remove("credentials") {
            None => None,
            Some(v @ Value::Object(_)) => Some(SecretString::from(canonical(&v))),
            Some(_) => {
                return Err(Error::config(format!(
                    "{what}: `credentials` must be an object"
                )))
            }
        };
        Ok(ConnectionPatch {
            name,
            description,
            method,
            credentials,
        })
    }

    /// Renames the connection.
    ///
    /// ```
    /// let patch = kms_sync_fleet::ConnectionPatch::new().name("bb-prod");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> ConnectionPatch {
        self.name = Some(name.into());
        self
    }

    /// Sets (`Some`) or clears (`None`) the description.
    ///
    /// ```
    /// let patch = kms_sync_fleet::ConnectionPatch::new().description(Some("for prod".into()));
    /// ```
    pub fn description(mut self, description: Option<String>) -> ConnectionPatch {
        self.description = Some(description);
        self
    }

    /// Replaces the credentials whole with those of `connection` (a create-connection
    /// body), and the method with its method.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) when the body's credentials cannot be read.
    ///
    /// ```
    /// use kms_sync_core::AppConnectionDefinition;
    /// let new = AppConnectionDefinition::from_json(r#"{"method": "api-key", "credentials": {"apiKey": "cu_new"}}"#)?;
    /// let patch = kms_sync_fleet::ConnectionPatch::new().credentials(&new)?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn credentials(mut self, connection: &AppConnectionDefinition) -> Result<ConnectionPatch> {
        let (_, text) = credentials_of(connection.expose_json())?;
        self.method = Some(connection.method().to_owned());
        self.credentials = Some(text);
        Ok(self)
    }
}

impl fmt::Debug for ConnectionPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPatch")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("method", &self.method)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

/// The columns of a connection row, without the sealed credentials.
const RECORD_COLUMNS: &str = "c.id, c.app, c.name, c.description, c.project_id, c.method, \
     c.public_credentials, c.credentials_hash, c.key_id, c.version, c.created_at, c.updated_at";

/// The KMS's app connections in the registry. Get one from
/// [`SyncRegistry::connections`](crate::SyncRegistry::connections).
///
/// ```no_run
/// use kms_sync_core::AppConnectionDefinition;
/// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
/// let body = AppConnectionDefinition::from_json(r#"{"name": "my-bitbucket-connection",
///     "method": "api-token", "projectId": "7ffbb072-2575-495a-b5b0-127f88caef78",
///     "credentials": {"email": "user@example.com", "apiToken": "ATATT-example"}}"#)?;
/// let conn = registry.connections().create("bitbucket", &body).await?;
/// assert_eq!(conn.credentials, r#"{"email":"user@example.com"}"#);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connections {
    shared: Arc<Shared>,
}

debug_handle!(Connections);

/// What a new or replaced set of credentials becomes in the row.
/// A connection's names after an update.
#[derive(Clone, Copy)]
struct Names<'a> {
    name: &'a str,
    description: Option<&'a str>,
    method: &'a str,
}

struct Stored {
    public: Value,
    sealed: Option<Sealed>,
    hash: Option<String>,
}

impl Connections {
    pub(crate) fn new(shared: Arc<Shared>) -> Connections {
        Connections { shared }
    }

    /// Creates a connection of `app` from the KMS's create-connection body. `app` (the
    /// KMS puts it in the URL path) must be a kind the registry's destinations know; an
    /// alias is stored as its kind. The credentials are
    /// encrypted with the key ring's current key, or, without a key ring, not stored at all
    /// (the resolver supplies them). They are checked by the destination's factory when a
    /// sync uses the connection.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) for an unknown app, credentials its factory refuses
    /// (`DestinationFactory::check_connection`), a URL field the registry's
    /// [`url_policy`](crate::SyncRegistryBuilder::url_policy) refuses (naming the field and
    /// the rule, never the userinfo), a missing or not slug-friendly name, a
    /// description over 256 characters, or an empty method; [`Conflict`](ErrorKind::Conflict)
    /// when the project has a connection of that name.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, body: kms_sync_core::AppConnectionDefinition) -> kms_sync_core::Result<()> {
    /// let conn = registry.connections().create("checkly", &body).await?;
    /// assert_eq!(conn.version, 1);
    /// # Ok(()) }
    /// ```
    pub async fn create(
        &self,
        app: &str,
        connection: &AppConnectionDefinition,
    ) -> Result<ConnectionRecord> {
        let what = "app connection";
        let factory = self.shared.destinations.factory(app)?;
        let kind = factory.kind();
        let name = connection
            .name()
            .ok_or_else(|| Error::config(format!("{what}: `name` is required")))?;
        check_name(name)?;
        check_description(what, connection.description())?;
        check_method(connection.method())?;
        let (credentials, text) = credentials_of(connection.expose_json())?;
        check_credential_urls(&self.shared.url_guard, &credentials).await?;
        factory.check_connection(connection)?;
        let id = ConnectionId::random();
        let stored = self.store(id, kind, connection.method(), &credentials, &text)?;
        let doing = format!("creating app connection `{name}`");
        let client = self.shared.pool.get(&doing).await?;
        let sql = self.shared.sql(&format!(
            "INSERT INTO {{s}}.connections AS c (id, app, name, description, project_id, method, \
             public_credentials, key_id, nonce, ciphertext, credentials_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {RECORD_COLUMNS}"
        ));
        let (key_id, nonce, ciphertext) = sealed_parts(stored.sealed.as_ref());
        let row = client
            .query_one(
                &self.shared.prepared(&client, &sql).await?,
                &[
                    &id.0,
                    &kind,
                    &name,
                    &connection.description(),
                    &connection.project_id(),
                    &connection.method(),
                    &stored.public,
                    &key_id,
                    &nonce,
                    &ciphertext,
                    &stored.hash,
                ],
            )
            .await
            .map_err(|e| name_taken(e, &doing, name, connection.project_id()))?;
        record(&row)
    }

    /// Encrypts and hashes credentials (with a key ring), and keeps their public part.
    fn store(
        &self,
        id: ConnectionId,
        app: &str,
        method: &str,
        credentials: &Map<String, Value>,
        text: &SecretString,
    ) -> Result<Stored> {
        let fields = self.shared.public_fields_of(app);
        let public = public_part(credentials, &fields);
        let Some(keys) = &self.shared.keys else {
            return Ok(Stored {
                public,
                sealed: None,
                hash: None,
            });
        };
        let sealed = keys.seal(&id.to_string(), text)?;
        let hash = keys.credentials_hash(&sealed.key_id, app, method, text)?;
        Ok(Stored {
            public,
            sealed: Some(sealed),
            hash: Some(hash),
        })
    }

    /// The connection `id`.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound) when there is none.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::ConnectionId) -> kms_sync_core::Result<()> {
    /// let conn = registry.connections().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: ConnectionId) -> Result<ConnectionRecord> {
        let doing = format!("reading app connection {id}");
        let client = self.shared.pool.get(&doing).await?;
        let sql = self.shared.sql(&format!(
            "SELECT {RECORD_COLUMNS} FROM {{s}}.connections c WHERE c.id = $1"
        ));
        let row = client
            .query_opt(&self.shared.prepared(&client, &sql).await?, &[&id.0])
            .await
            .map_err(|e| error::db(&doing, e))?
            .ok_or_else(|| not_found(id))?;
        record(&row)
    }

    /// The connections of `app` (an alias is resolved), in `project_id` if given, oldest
    /// first.
    ///
    /// # Errors
    ///
    /// A database failure.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// let all = registry.connections().list("octopus-deploy", Some("my-project")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, app: &str, project_id: Option<&str>) -> Result<Vec<ConnectionRecord>> {
        let kind = self
            .shared
            .destinations
            .factory(app)
            .map(|f| f.kind())
            .unwrap_or(app);
        let doing = format!("listing the {kind} app connections");
        let client = self.shared.pool.get(&doing).await?;
        let sql = self.shared.sql(&format!(
            "SELECT {RECORD_COLUMNS} FROM {{s}}.connections c \
             WHERE c.app = $1 AND ($2::text IS NULL OR c.project_id = $2) \
             ORDER BY c.created_at, c.id"
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

    /// Applies `patch`: a new name or description, or credentials replaced whole (and the
    /// method, if the patch names one). New credentials are checked by building the
    /// destination of every sync that uses the connection (offline); if any refuses
    /// them, nothing changes. `version` increases by one.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound); [`Config`](ErrorKind::Config) for a bad name,
    /// description or method, or credentials a sync's destination refuses (naming the
    /// sync, never the credentials); [`Conflict`](ErrorKind::Conflict) for a name taken.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::ConnectionId) -> kms_sync_core::Result<()> {
    /// use kms_sync_fleet::ConnectionPatch;
    /// let patch = ConnectionPatch::from_json(r#"{"credentials": {"apiKey": "cu_rotated"}}"#)?;
    /// let conn = registry.connections().update(id, patch).await?;
    /// assert!(conn.version >= 2);
    /// # Ok(()) }
    /// ```
    pub async fn update(
        &self,
        id: ConnectionId,
        patch: ConnectionPatch,
    ) -> Result<ConnectionRecord> {
        let what = "app connection update";
        if let Some(name) = &patch.name {
            check_name(name)?;
        }
        if let Some(description) = &patch.description {
            check_description(what, description.as_deref())?;
        }
        if let Some(method) = &patch.method {
            check_method(method)?;
        }
        let doing = format!("updating app connection {id}");
        let e = |err| error::db(&doing, err);
        let mut client = self.shared.pool.get(&doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        let lock = self.shared.sql(&format!(
            "SELECT {RECORD_COLUMNS} FROM {{s}}.connections c WHERE c.id = $1 FOR UPDATE"
        ));
        let current = tx
            .query_opt(&self.shared.prepared(&tx, &lock).await?, &[&id.0])
            .await
            .map_err(e)?
            .ok_or_else(|| not_found(id))?;
        let current = record(&current)?;
        let name = patch.name.clone().unwrap_or_else(|| current.name.clone());
        let description = match &patch.description {
            Some(d) => d.clone(),
            None => current.description.clone(),
        };
        let method = patch
            .method
            .clone()
            .unwrap_or_else(|| current.method.clone());
        let names = Names {
            name: &name,
            description: description.as_deref(),
            method: &method,
        };
        let changed = match &patch.credentials {
            None => None,
            Some(text) => Some(self.new_credentials(&tx, &current, names, text).await?),
        };
        let (stored, moved) = changed.unzip();
        drop_ledgers(&self.shared, &tx, &moved.unwrap_or_default()).await?;
        let row = self
            .write_update(&tx, id, names, stored.as_ref())
            .await
            .map_err(|err| name_taken(err, &doing, &name, current.project_id.as_deref()))?;
        let updated = record(&row)?;
        tx.commit().await.map_err(e)?;
        Ok(updated)
    }

    /// Builds the destination of every sync using connection `id` with `definition`.
    /// New credentials for connection `current`, with `names` after the update: checked
    /// with every sync using the connection (so a refusal names the sync it would break),
    /// then by the factory (for a connection no sync uses yet), then sealed. Also the syncs
    /// whose destination the new credentials make another one: their ledgers are dropped.
    async fn new_credentials<C: GenericClient>(
        &self,
        tx: &C,
        current: &ConnectionRecord,
        names: Names<'_>,
        text: &SecretString,
    ) -> Result<(Stored, Vec<SyncId>)> {
        let credentials = parse_credentials(text)?;
        check_credential_urls(&self.shared.url_guard, &credentials).await?;
        let project = current.project_id.as_deref();
        let body = connection_body(
            names.name,
            names.description,
            project,
            names.method,
            &credentials,
        );
        let definition = AppConnectionDefinition::from_json(body.expose_secret())?;
        let before = self.definition_with(tx, current.id).await.ok();
        let moved = self
            .check_users(tx, current.id, before.as_ref(), &definition)
            .await?;
        self.shared
            .destinations
            .factory(&current.app)?
            .check_connection(&definition)?;
        let stored = self.store(current.id, &current.app, names.method, &credentials, text)?;
        Ok((stored, moved))
    }

    /// Writes an update's names and, when given, its new stored credentials.
    async fn write_update<C: GenericClient>(
        &self,
        tx: &C,
        id: ConnectionId,
        names: Names<'_>,
        stored: Option<&Stored>,
    ) -> std::result::Result<Row, tokio_postgres::Error> {
        let replace = stored.is_some();
        let (public, hash) = match stored {
            Some(s) => (Some(&s.public), s.hash.as_deref()),
            None => (None, None),
        };
        let (key_id, nonce, ciphertext) = sealed_parts(stored.and_then(|s| s.sealed.as_ref()));
        let sql = self.shared.sql(&format!(
            "UPDATE {{s}}.connections c SET name = $2, description = $3, method = $4, \
             public_credentials = CASE WHEN $5 THEN $6 ELSE c.public_credentials END, \
             key_id = CASE WHEN $5 THEN $7 ELSE c.key_id END, \
             nonce = CASE WHEN $5 THEN $8 ELSE c.nonce END, \
             ciphertext = CASE WHEN $5 THEN $9 ELSE c.ciphertext END, \
             credentials_hash = CASE WHEN $5 THEN $10 ELSE c.credentials_hash END, \
             version = c.version + 1, updated_at = now() WHERE c.id = $1 RETURNING {RECORD_COLUMNS}"
        ));
        let params: [&(dyn ToSql + Sync); 10] = [
            &id.0,
            &names.name,
            &names.description,
            &names.method,
            &replace,
            &public,
            &key_id,
            &nonce,
            &ciphertext,
            &hash,
        ];
        let statement = tx.prepare_cached(&sql).await?;
        tx.query_one(&statement, &params).await
    }

    async fn check_users<C: GenericClient>(
        &self,
        client: &C,
        id: ConnectionId,
        before: Option<&AppConnectionDefinition>,
        definition: &AppConnectionDefinition,
    ) -> Result<Vec<SyncId>> {
        let doing = format!("checking the syncs of app connection {id}");
        let sql = self.shared.sql(
            "SELECT id, name, destination, destination_config FROM {s}.syncs \
             WHERE connection_id = $1",
        );
        let rows = client
            .query(&self.shared.prepared(client, &sql).await?, &[&id.0])
            .await
            .map_err(|e| error::db(&doing, e))?;
        let mut moved = Vec::new();
        for row in rows {
            let name: String = get(&row, "name", "a sync")?;
            let destination: String = get(&row, "destination", "a sync")?;
            let config: Value = get(&row, "destination_config", "a sync")?;
            let factory = self.shared.destinations.factory(&destination)?;
            let config = config.to_string();
            let settings = || self.shared.settings.clone();
            let after = factory
                .build(definition, &config, settings())
                .map_err(|err| {
                    Error::config(format!(
                        "app connection update: sync `{name}` cannot use the new credentials: {}",
                        err.message()
                    ))
                })?;
            let before = before.and_then(|b| factory.build(b, &config, settings()).ok());
            // Unknown before (the old credentials cannot be read): the ledger is kept, and
            // the engine refuses it before any write if it describes another destination.
            if before.is_some_and(|b| b.info().identity != after.info().identity) {
                moved.push(SyncId(get(&row, "id", "a sync")?));
            }
        }
        Ok(moved)
    }

    /// Deletes connection `id` and returns it as it was.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound); [`Conflict`](ErrorKind::Conflict) while a sync
    /// uses it (naming the syncs).
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::ConnectionId) -> kms_sync_core::Result<()> {
    /// match registry.connections().delete(id).await {
    ///     Err(e) if e.kind() == kms_sync_core::ErrorKind::Conflict => println!("in use: {e}"),
    ///     other => { other?; }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: ConnectionId) -> Result<ConnectionRecord> {
        let doing = format!("deleting app connection {id}");
        let e = |err| error::db(&doing, err);
        let mut client = self.shared.pool.get(&doing).await?;
        let tx = client.transaction().await.map_err(e)?;
        let users = self
            .shared
            .sql("SELECT name FROM {s}.syncs WHERE connection_id = $1 ORDER BY name LIMIT 10");
        let users: Vec<String> = tx
            .query(&self.shared.prepared(&tx, &users).await?, &[&id.0])
            .await
            .map_err(e)?
            .iter()
            .map(|r| get(r, "name", "a sync"))
            .collect::<Result<_>>()?;
        if !users.is_empty() {
            return Err(in_use(id, &users));
        }
        let sql = self.shared.sql(&format!(
            "DELETE FROM {{s}}.connections c WHERE c.id = $1 RETURNING {RECORD_COLUMNS}"
        ));
        let row = tx
            .query_opt(&self.shared.prepared(&tx, &sql).await?, &[&id.0])
            .await
            .map_err(
                |err| match has_code(&err, &SqlState::FOREIGN_KEY_VIOLATION) {
                    true => in_use(id, &[]),
                    false => e(err),
                },
            )?
            .ok_or_else(|| not_found(id))?;
        let deleted = record(&row)?;
        tx.commit().await.map_err(|err| {
            match has_code(&err, &SqlState::FOREIGN_KEY_VIOLATION) {
                true => in_use(id, &[]),
                false => e(err),
            }
        })?;
        Ok(deleted)
    }

    /// The connection as a destination's factory reads it: the create-connection body
    /// with the credentials decrypted (or from the resolver). For workers; never log it.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound); [`Config`](ErrorKind::Config) when the key the
    /// row was encrypted with is not in the key ring, or is not the key it was encrypted
    /// with (never garbage), or when the row has no credentials and no resolver is set;
    /// the resolver's own errors.
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry, id: kms_sync_fleet::ConnectionId) -> kms_sync_core::Result<()> {
    /// let connection = registry.connections().definition(id).await?;
    /// assert!(!format!("{connection:?}").contains("apiToken\":"));
    /// # Ok(()) }
    /// ```
    pub async fn definition(&self, id: ConnectionId) -> Result<AppConnectionDefinition> {
        let doing = format!("reading the credentials of app connection {id}");
        let client = self.shared.pool.get(&doing).await?;
        self.definition_with(&client, id).await
    }

    /// As [`definition`](Self::definition), on `client` (inside a transaction).
    pub(crate) async fn definition_with<C: GenericClient>(
        &self,
        client: &C,
        id: ConnectionId,
    ) -> Result<AppConnectionDefinition> {
        let doing = format!("reading the credentials of app connection {id}");
        let sql = self.shared.sql(&format!("{CREDENTIALS} WHERE id = $1"));
        let row = client
            .query_opt(&self.shared.prepared(client, &sql).await?, &[&id.0])
            .await
            .map_err(|e| error::db(&doing, e))?
            .ok_or_else(|| not_found(id))?;
        self.definition_of_row(id, &row).await
    }

    /// The connection body of a row of [`CREDENTIALS`] (connection `id`), credentials
    /// decrypted, or resolved when stored without them.
    pub(crate) async fn definition_of_row(
        &self,
        id: ConnectionId,
        row: &Row,
    ) -> Result<AppConnectionDefinition> {
        let what = "an app connection";
        let sealed = match (
            get::<Option<String>>(row, "key_id", what)?,
            get::<Option<Vec<u8>>>(row, "nonce", what)?,
            get::<Option<Vec<u8>>>(row, "ciphertext", what)?,
        ) {
            (Some(key_id), Some(nonce), Some(ciphertext)) => Some(Sealed {
                key_id,
                nonce,
                ciphertext,
            }),
            _ => None,
        };
        let Some(sealed) = sealed else {
            return match &self.shared.resolver {
                Some(resolver) => resolver.connection(id).await,
                None => Err(Error::config(format!(
                    "app connection {id} has no stored credentials and the registry has no \
                     credential resolver"
                ))),
            };
        };
        let keys = self.shared.keys.as_ref().ok_or_else(|| {
            Error::config(format!(
                "app connection {id} is encrypted with key `{}`, but the registry has no key ring",
                sealed.key_id
            ))
        })?;
        let text = keys.open(&id.to_string(), &sealed)?;
        let credentials = parse_credentials(&text)?;
        let name: String = get(row, "name", what)?;
        let description: Option<String> = get(row, "description", what)?;
        let project_id: Option<String> = get(row, "project_id", what)?;
        let method: String = get(row, "method", what)?;
        let body = connection_body(
            &name,
            description.as_deref(),
            project_id.as_deref(),
            &method,
            &credentials,
        );
        AppConnectionDefinition::from_json(body.expose_secret())
    }

    /// Re-encrypts every connection not encrypted with the key ring's current key (after
    /// a rotation: make the new key current, keep the old one as an old key, call this,
    /// then drop the old key). Rows are re-encrypted in batches of 100, each batch in one
    /// transaction; `credentialsHash` is recomputed under the new key; `version` does not
    /// change. Returns how many rows were re-encrypted.
    ///
    /// # Errors
    ///
    /// [`Config`](ErrorKind::Config) without a key ring, or for a row whose key is not in
    /// the ring or does not decrypt it (rows of earlier batches stay re-encrypted).
    ///
    /// ```no_run
    /// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// let moved = registry.connections().reencrypt().await?;
    /// println!("{moved} connections re-encrypted");
    /// # Ok(()) }
    /// ```
    pub async fn reencrypt(&self) -> Result<usize> {
        let keys = self
            .shared
            .keys
            .as_ref()
            .ok_or_else(|| Error::config("re-encrypting needs a key ring"))?;
        let current = keys.current_key_id().to_owned();
        let doing = "re-encrypting app connection credentials";
        let e = |err| error::db(doing, err);
        let select = self.shared.sql(
            "SELECT id, app, method, key_id, nonce, ciphertext FROM {s}.connections \
             WHERE key_id IS NOT NULL AND key_id <> $1 ORDER BY id LIMIT 100 FOR UPDATE",
        );
        let update = self.shared.sql(
            "UPDATE {s}.connections SET key_id = $2, nonce = $3, ciphertext = $4, \
             credentials_hash = $5 WHERE id = $1",
        );
        let mut moved = 0;
        loop {
            let mut client = self.shared.pool.get(doing).await?;
            let tx = client.transaction().await.map_err(e)?;
            let rows = tx
                .query(&self.shared.prepared(&tx, &select).await?, &[&current])
                .await
                .map_err(e)?;
            if rows.is_empty() {
                return Ok(moved);
            }
            for row in &rows {
                let what = "an app connection";
                let id = ConnectionId(get(row, "id", what)?);
                let app: String = get(row, "app", what)?;
                let method: String = get(row, "method", what)?;
                let sealed = Sealed {
                    key_id: get(row, "key_id", what)?,
                    nonce: get(row, "nonce", what)?,
                    ciphertext: get(row, "ciphertext", what)?,
                };
                let text = keys.open(&id.to_string(), &sealed)?;
                let resealed = keys.seal(&id.to_string(), &text)?;
                let hash = keys.credentials_hash(&resealed.key_id, &app, &method, &text)?;
                tx.execute(
                    &self.shared.prepared(&tx, &update).await?,
                    &[
                        &id.0,
                        &resealed.key_id,
                        &resealed.nonce,
                        &resealed.ciphertext,
                        &hash,
                    ],
                )
                .await
                .map_err(e)?;
                moved += 1;
            }
            tx.commit().await.map_err(e)?;
        }
    }
}

fn sealed_parts(sealed: Option<&Sealed>) -> (Option<&str>, Option<&[u8]>, Option<&[u8]>) {
    match sealed {
        Some(s) => (
            Some(s.key_id.as_str()),
            Some(s.nonce.as_slice()),
            Some(s.ciphertext.as_slice()),
        ),
        None => (None, None, None),
    }
}

/// The credentials object from its (secret) canonical text.
fn parse_credentials(text: &SecretString) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text.expose_secret()) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::unexpected(
            "stored app connection credentials are not a JSON object",
        )),
    }
}

/// A create-connection body, kept secret.
fn connection_body(
    name: &str,
    description: Option<&str>,
    project_id: Option<&str>,
    method: &str,
    credentials: &Map<String, Value>,
) -> SecretString {
    let mut body = Map::new();
    body.insert("name".to_owned(), Value::String(name.to_owned()));
    if let Some(d) = description {
        body.insert("description".to_owned(), Value::String(d.to_owned()));
    }
    if let Some(p) = project_id {
        body.insert("projectId".to_owned(), Value::String(p.to_owned()));
    }
    body.insert("method".to_owned(), Value::String(method.to_owned()));
    body.insert("credentials".to_owned(), Value::Object(credentials.clone()));
    SecretString::from(Value::Object(body).to_string())
}

fn check_name(name: &str) -> Result<()> {
    if !slug_friendly(name) || name.len() > MAX_NAME {
        return Err(Error::config(format!(
            "app connection: name `{}` is not slug-friendly (1 to {MAX_NAME} lowercase letters, \
             digits and single `-`)",
            name.chars().take(80).collect::<String>().escape_debug()
        )));
    }
    Ok(())
}

fn check_method(method: &str) -> Result<()> {
    if method.trim().is_empty() || method.len() > 64 {
        return Err(Error::config(
            "app connection: `method` must be 1 to 64 characters",
        ));
    }
    Ok(())
}

fn not_found(id: ConnectionId) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("app connection {id} not found"),
    )
}

fn in_use(id: ConnectionId, users: &[String]) -> Error {
    let names = match users {
        [] => String::from("a sync"),
        names => format!("sync(s) {}", names.join(", ")),
    };
    Error::new(
        ErrorKind::Conflict,
        format!("app connection {id} is used by {names}: delete or move those syncs first"),
    )
}

/// A unique violation on the name as a conflict; anything else as a database error.
fn name_taken(err: tokio_postgres::Error, doing: &str, name: &str, project: Option<&str>) -> Error {
    if has_code(&err, &SqlState::UNIQUE_VIOLATION) {
        let project = project.map_or_else(
            || "without a project".to_owned(),
            |p| format!("in project {p}"),
        );
        return Error::new(
            ErrorKind::Conflict,
            format!("an app connection named `{name}` already exists {project}"),
        );
    }
    error::db(doing, err)
}

/// A connection row as a record.
pub(crate) fn record(row: &Row) -> Result<ConnectionRecord> {
    let what = "an app connection";
    let public: Value = get(row, "public_credentials", what)?;
    Ok(ConnectionRecord {
        id: ConnectionId(get(row, "id", what)?),
        app: get(row, "app", what)?,
        name: get(row, "name", what)?,
        description: get(row, "description", what)?,
        project_id: get(row, "project_id", what)?,
        method: get(row, "method", what)?,
        credentials: public.to_string(),
        credentials_hash: get(row, "credentials_hash", what)?,
        key_id: get(row, "key_id", what)?,
        version: get_u32(row, "version", what)?,
        created_at: get(row, "created_at", what)?,
        updated_at: get(row, "updated_at", what)?,
    })
}
