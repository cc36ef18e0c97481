//! [`ApiBuilder`]: the router, its layers, and the OpenAPI document generated from the
//! same handlers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::get;
use axum::{middleware, Json, Router};
use kms_sync_core::{Error, Result};
use kms_sync_fleet::{AuditSink, SourceProvider, SyncRegistry};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::{Modify, OpenApi as _};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, Auth, AuthState};
use crate::body::DEFAULT_BODY_LIMIT;
use crate::describe;
use crate::error::{envelope, ApiError};
use crate::limit::{self, Limits, RateLimit, DEFAULT_READ_LIMIT, DEFAULT_WRITE_LIMIT};
use crate::present::{default_environment_names, Presenter};
use crate::routes::{audit, available, catalog, connections, history, syncs, ApiState};

/// How often a `DELETE ?removeSecrets=true` looks at its remove job, unless configured.
///
/// ```
/// assert_eq!(kms_sync_api::DEFAULT_REMOVAL_POLL.as_millis(), 1000);
/// ```
pub const DEFAULT_REMOVAL_POLL: Duration = Duration::from_secs(1);
/// How long it waits for the remove to finish before leaving the sync in place.
///
/// ```
/// assert_eq!(kms_sync_api::DEFAULT_REMOVAL_WAIT.as_secs(), 3600);
/// ```
pub const DEFAULT_REMOVAL_WAIT: Duration = Duration::from_secs(3600);

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "kms-sync Secret Syncs API",
        description = "The Hanzo KMS (Infisical-compatible) Secret Syncs and App Connections \
                       routes for every destination its registry knows, served by kms-sync \
                       over its PostgreSQL registry. Every route needs `Authorization: Bearer`."
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorResponse, crate::error::ValidationFailure)),
    tags(
        (name = "Secret Syncs", description = "Syncs from a KMS project environment and folder to a destination"),
        (name = "App Connections", description = "Credentials for a destination app, kept in the registry"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every route, with its OpenAPI operation, from the handlers' own annotations.
fn api_router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(audit::list_audit_events))
        .routes(routes!(catalog::list_all_syncs))
        .routes(routes!(catalog::sync_options))
        .routes(routes!(catalog::list_all_connections))
        .routes(routes!(catalog::connection_options))
        .routes(routes!(available::available_connections))
        .routes(routes!(available::connection_by_name))
        .routes(routes!(syncs::list_syncs, syncs::create_sync))
        .routes(routes!(
            syncs::get_sync,
            syncs::update_sync,
            syncs::delete_sync
        ))
        .routes(routes!(syncs::get_sync_by_name))
        .routes(routes!(syncs::sync_secrets))
        .routes(routes!(syncs::remove_secrets))
        .routes(routes!(syncs::import_secrets))
        .routes(routes!(history::list_runs))
        .routes(routes!(history::plan_sync))
        .routes(routes!(syncs::check_destination))
        .routes(routes!(
            connections::list_connections,
            connections::create_connection
        ))
        .routes(routes!(
            connections::get_connection,
            connections::update_connection,
            connections::delete_connection
        ))
}

/// The OpenAPI document of the API, generated from its handlers and types: the same
/// document a router built with [`ApiBuilder::openapi_path`] serves.
///
/// ```
/// let doc = kms_sync_api::openapi();
/// assert!(doc.paths.paths.contains_key("/api/v1/secret-syncs/{destination}"));
/// let json = doc.to_json()?;
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn openapi() -> OpenApi {
    let mut doc = api_router().into_openapi();
    describe::secure(&mut doc);
    doc
}

/// The OpenAPI document a router over `destinations` serves: [`openapi()`] with the
/// `{destination}` and `{app}` parameters naming the kinds served, and each kind's
/// `destinationConfig` and `credentials` described, from its factory's facts.
///
/// ```
/// use kms_sync_core::{DestinationRegistry, MemoryFactory};
/// let doc = kms_sync_api::openapi_for(&DestinationRegistry::new().with(MemoryFactory));
/// assert!(doc.to_json()?.contains("`memory`"));
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn openapi_for(destinations: &kms_sync_core::DestinationRegistry) -> OpenApi {
    let mut doc = openapi();
    describe::describe(&mut doc, &describe::all_facts(destinations));
    doc
}

/// Builds the [`Router`] a service mounts (with `merge`, at its root: the routes are the
/// KMS's own paths, `/api/v1/secret-syncs/…` and `/api/v1/app-connections/…`).
///
/// The builder takes an [`Auth`]: there is no unauthenticated router. Every request passes,
/// in order: the request id and error envelope, the bearer-token check (401 before any
/// body is read), the body size limit, then the handler.
///
/// ```no_run
/// use kms_sync_api::{ApiBuilder, Auth};
/// # async fn run(registry: kms_sync_fleet::SyncRegistry) -> Result<(), Box<dyn std::error::Error>> {
/// let router = ApiBuilder::new(registry, Auth::bearer_tokens([std::env::var("API_TOKEN")?])?)
///     .openapi_path("/api/v1/secret-syncs-openapi.json")
///     .org_id("6f03caa1-a5de-43ce-b127-95a145d3464c")
///     .build()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, router).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ApiBuilder {
    registry: SyncRegistry,
    auth: Auth,
    openapi_path: Option<String>,
    body_limit: usize,
    org_id: String,
    environment_names: BTreeMap<String, String>,
    removal_poll: Duration,
    removal_wait: Duration,
    read_limit: RateLimit,
    write_limit: RateLimit,
    sources: Option<crate::checks::Sources>,
    verify_connections: bool,
    audit: Option<crate::audit::Audit>,
    ledger_key: Option<crate::checks::LedgerKey>,
}

impl ApiBuilder {
    /// A builder over `registry` (its destinations are the kinds the URLs accept),
    /// authenticating every request with `auth`.
    ///
    /// ```no_run
    /// # fn f(registry: kms_sync_fleet::SyncRegistry) -> kms_sync_core::Result<()> {
    /// let builder = kms_sync_api::ApiBuilder::new(registry, kms_sync_api::Auth::verifier(|t: &str| t == "x"));
    /// # Ok(()) }
    /// ```
    pub fn new(registry: SyncRegistry, auth: Auth) -> ApiBuilder {
        ApiBuilder {
            registry,
            auth,
            openapi_path: None,
            body_limit: DEFAULT_BODY_LIMIT,
            org_id: uuid::Uuid::nil().to_string(),
            environment_names: default_environment_names(),
            removal_poll: DEFAULT_REMOVAL_POLL,
            removal_wait: DEFAULT_REMOVAL_WAIT,
            read_limit: RateLimit::minute_of(DEFAULT_READ_LIMIT),
            write_limit: RateLimit::minute_of(DEFAULT_WRITE_LIMIT),
            sources: None,
            verify_connections: true,
            audit: None,
            ledger_key: None,
        }
    }

    /// Enables `POST …/{syncId}/plan`: sources are read through `sources` (also the
    /// folder check of [`source_provider`](Self::source_provider)) and each sync's ledger
    /// with the fleet's `ledger_key` (the workers' key; kept secret, never logged), so the
    /// plan is the one a worker would make now.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder, p: std::sync::Arc<dyn kms_sync_fleet::SourceProvider>) {
    /// let b = b.planning(p, vec![7u8; 32]);
    /// # }
    /// ```
    pub fn planning(mut self, sources: Arc<dyn SourceProvider>, ledger_key: Vec<u8>) -> ApiBuilder {
        self.sources = Some(crate::checks::Sources(sources));
        self.ledger_key = Some(crate::checks::LedgerKey::new(ledger_key));
        self
    }

    /// Where every call that reads or changes a sync or a connection is recorded (the
    /// KMS's event names, the principal as actor, never a value). Default: the registry's
    /// PostgreSQL table ([`SyncRegistry::audit_log`](kms_sync_fleet::SyncRegistry::audit_log)).
    /// `GET /api/v1/audit-events` lists this sink ([`AuditSink::list`]); a sink that
    /// cannot list is answered 404 "this server's audit sink cannot list events".
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) {
    /// let b = b.audit_sink(std::sync::Arc::new(kms_sync_fleet::MemoryAuditSink::default()));
    /// # }
    /// ```
    pub fn audit_sink(mut self, sink: Arc<dyn AuditSink>) -> ApiBuilder {
        self.audit = Some(crate::audit::Audit(Some(sink)));
        self
    }

    /// Records no audit event (`GET /api/v1/audit-events` then answers 404).
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) { let b = b.without_audit(); }
    /// ```
    pub fn without_audit(mut self) -> ApiBuilder {
        self.audit = Some(crate::audit::Audit(None));
        self
    }

    /// Where a sync's source folder is looked up when a sync is created or moved: a sync
    /// reading a folder the source does not have is refused (400 naming the folder), as
    /// the KMS refuses it. Give the workers' provider. Default: not checked.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder, p: std::sync::Arc<dyn kms_sync_fleet::SourceProvider>) {
    /// let b = b.source_provider(p);
    /// # }
    /// ```
    pub fn source_provider(mut self, sources: Arc<dyn SourceProvider>) -> ApiBuilder {
        self.sources = Some(crate::checks::Sources(sources));
        self
    }

    /// Whether a connection's credentials are checked against its service (one cheap
    /// authenticated read, the factory's `verify_connection`) when it is created and when
    /// its credentials change: refused credentials are 400 naming the connection. A
    /// destination that cannot check accepts the connection "not verified". Default: on,
    /// as the KMS.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) { let b = b.verify_connections(false); }
    /// ```
    pub fn verify_connections(mut self, verify: bool) -> ApiBuilder {
        self.verify_connections = verify;
        self
    }

    /// The read limit per caller (`GET`): default [`DEFAULT_READ_LIMIT`] per minute, the
    /// KMS's. Over it, 429 with `Retry-After`.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) -> kms_sync_core::Result<()> {
    /// let b = b.read_limit(kms_sync_api::RateLimit::per_minute(600)?);
    /// # Ok(()) }
    /// ```
    pub fn read_limit(mut self, limit: RateLimit) -> ApiBuilder {
        self.read_limit = limit;
        self
    }

    /// The write limit per caller (`POST`, `PATCH`, `DELETE`): default
    /// [`DEFAULT_WRITE_LIMIT`] per minute, the KMS's.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) -> kms_sync_core::Result<()> {
    /// let b = b.write_limit(kms_sync_api::RateLimit::per_minute(50)?);
    /// # Ok(()) }
    /// ```
    pub fn write_limit(mut self, limit: RateLimit) -> ApiBuilder {
        self.write_limit = limit;
        self
    }

    /// Serves the OpenAPI document (JSON) at `path`, behind the same auth. Not served
    /// unless set.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) { let b = b.openapi_path("/openapi.json"); }
    /// ```
    pub fn openapi_path(mut self, path: impl Into<String>) -> ApiBuilder {
        self.openapi_path = Some(path.into());
        self
    }

    /// The largest request body accepted (413 beyond it). Default
    /// [`DEFAULT_BODY_LIMIT`](crate::DEFAULT_BODY_LIMIT), 1 MiB as the KMS.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) { let b = b.body_limit(64 * 1024); }
    /// ```
    pub fn body_limit(mut self, bytes: usize) -> ApiBuilder {
        self.body_limit = bytes;
        self
    }

    /// The `orgId` connections show (the registry serves one organization). Default: the
    /// nil UUID.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) { let b = b.org_id("6f03caa1-a5de-43ce-b127-95a145d3464c"); }
    /// ```
    pub fn org_id(mut self, org_id: impl Into<String>) -> ApiBuilder {
        self.org_id = org_id.into();
        self
    }

    /// The display name of an environment slug (`environment.name`). The KMS's defaults
    /// are set: `dev` → Development, `staging` → Staging, `prod` → Production; any other
    /// slug shows itself.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) { let b = b.environment_name("qa", "Quality assurance"); }
    /// ```
    pub fn environment_name(
        mut self,
        slug: impl Into<String>,
        name: impl Into<String>,
    ) -> ApiBuilder {
        self.environment_names.insert(slug.into(), name.into());
        self
    }

    /// How often a `DELETE ?removeSecrets=true` looks at its remove job, and how long it
    /// waits for it (defaults [`DEFAULT_REMOVAL_POLL`], [`DEFAULT_REMOVAL_WAIT`]).
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) {
    /// let b = b.removal_poll(std::time::Duration::from_millis(200), std::time::Duration::from_secs(600));
    /// # }
    /// ```
    pub fn removal_poll(mut self, every: Duration, wait: Duration) -> ApiBuilder {
        self.removal_poll = every.max(Duration::from_millis(10));
        self.removal_wait = wait;
        self
    }

    /// The router.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an OpenAPI path that does not start
    /// with `/`, has parameters, or lies under the API's own routes; a body limit of 0.
    ///
    /// ```no_run
    /// # fn f(b: kms_sync_api::ApiBuilder) -> kms_sync_core::Result<()> {
    /// let router: axum::Router = b.build()?;
    /// # Ok(()) }
    /// ```
    pub fn build(self) -> Result<Router> {
        if self.body_limit == 0 {
            return Err(Error::config("API: the body limit must be at least 1 byte"));
        }
        let (router, mut doc) = api_router().split_for_parts();
        describe::secure(&mut doc);
        describe::describe(&mut doc, &describe::all_facts(self.registry.destinations()));
        let mut router = router;
        if let Some(path) = &self.openapi_path {
            check_openapi_path(path)?;
            let doc = Arc::new(doc);
            router = router.route(
                path,
                get(move || {
                    let doc = doc.clone();
                    async move { Json(doc.as_ref().clone()) }
                }),
            );
        }
        let auth = AuthState {
            auth: self.auth,
            org_id: self.org_id.clone(),
        };
        let limits = Limits::new(self.read_limit, self.write_limit);
        let audit = self.audit.unwrap_or_else(|| {
            crate::audit::Audit(Some(
                Arc::new(self.registry.audit_log()) as Arc<dyn AuditSink>
            ))
        });
        let state = ApiState {
            audit,
            registry: self.registry,
            present: Arc::new(Presenter {
                org_id: self.org_id,
                environment_names: self.environment_names,
            }),
            removal_poll: self.removal_poll,
            removal_wait: self.removal_wait,
            sources: self.sources,
            verify_connections: self.verify_connections,
            ledger_key: self.ledger_key,
        };
        Ok(router
            .fallback(no_route)
            .with_state(state)
            .layer(DefaultBodyLimit::max(self.body_limit))
            .layer(middleware::from_fn_with_state(limits, limit::limit))
            .layer(middleware::from_fn_with_state(auth, auth::require))
            .layer(middleware::from_fn(envelope)))
    }
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::no_route(method.as_str(), uri.path())
}

fn check_openapi_path(path: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::config(format!("API: OpenAPI path `{path}` {why}")));
    if !path.starts_with('/') {
        return bad("must start with `/`");
    }
    if path.contains(['{', '}', '*', ':']) {
        return bad("must not have parameters");
    }
    if path.starts_with("/api/v1/secret-syncs/") || path.starts_with("/api/v1/app-connections/") {
        return bad("lies under the API's own routes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_paths_are_checked() {
        assert!(check_openapi_path("/openapi.json").is_ok());
        assert!(check_openapi_path("openapi.json").is_err());
        assert!(check_openapi_path("/api/v1/secret-syncs/openapi").is_err());
        assert!(check_openapi_path("/docs/{x}").is_err());
    }
}
