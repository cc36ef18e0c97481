//! Every route checks the KMS's action: a table of (route × grants × project × condition)
//! whose every cell runs, allowed and refused. A refused request changes nothing (the
//! registry's snapshot is the same after it) and reveals nothing: a resource the caller
//! may not see is answered exactly as a missing id, and lists leave it out.

use kms_sync_api::{Auth, TokenFileAuthorizer};
use kms_sync_core::{Error, Result};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::snapshot;
use crate::support::{expect, fixture, text, Answer, Api, TestDb, TOKEN};

pub const PROJECT_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
pub const PROJECT_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";
const SYNCS: &str = "/api/v1/secret-syncs/checkly";
const CONNS: &str = "/api/v1/app-connections/checkly";

/// What the admin made for one cell: a sync in project A on connection `conn`, an unused
/// connection `spare` in A, and a connection `other` in project B.
struct Made {
    sync: String,
    name: String,
    conn: String,
    spare: String,
    other: String,
    n: usize,
}

impl Made {
    /// Ids and a name nothing has: the same request for a missing resource.
    fn missing(n: usize) -> Made {
        let id = || uuid::Uuid::new_v4().to_string();
        Made {
            sync: id(),
            name: format!("missing-{n}"),
            conn: id(),
            spare: id(),
            other: id(),
            n,
        }
    }

    /// The answer's message with this cell's ids and name replaced by placeholders.
    fn neutral(&self, answer: &Answer) -> String {
        format!(
            "{} {} {}",
            answer.status, answer.body["error"], answer.body["message"]
        )
        .replace(&self.sync, "SYNC")
        .replace(&self.name, "NAME")
        .replace(&self.conn, "CONN")
        .replace(&self.spare, "CONN")
        .replace(&self.other, "CONN")
    }
}

fn connection_body(name: &str, project: &str) -> String {
    json!({"name": name, "method": "api-key", "projectId": project,
           "credentials": {"apiKey": "cu_0123456789abcdef"}})
    .to_string()
}

pub fn sync_body(name: &str, project: &str, connection: &str) -> Result<String> {
    let mut body: Value =
        serde_json::from_str(&fixture("checkly-sync.json")?).map_err(crate::support::fail)?;
    body["name"] = json!(name);
    body["projectId"] = json!(project);
    body["connectionId"] = json!(connection);
    body["environment"] = json!("dev");
    body["secretPath"] = json!("/app/db");
    Ok(body.to_string())
}

async fn created(api: &Api, path: &str, body: &str, pointer: &str) -> Result<String> {
    let answer = api.post(path, body).await?;
    expect(&answer, 200, path)?;
    Ok(text(&answer.body, pointer).to_owned())
}

impl Made {
    /// What the admin makes for cell `n` through `api`.
    async fn new(api: &Api, n: usize) -> Result<Made> {
        let connection = |prefix: &str, project: &str| {
            let body = connection_body(&format!("{prefix}-{n}"), project);
            async move { created(api, CONNS, &body, "/appConnection/id").await }
        };
        let conn = connection("c", PROJECT_A).await?;
        let spare = connection("sp", PROJECT_A).await?;
        let other = connection("ob", PROJECT_B).await?;
        let name = format!("s-{n}");
        let body = sync_body(&name, PROJECT_A, &conn)?;
        let sync = created(api, SYNCS, &body, "/secretSync/id").await?;
        Ok(Made {
            sync,
            name,
            conn,
            spare,
            other,
            n,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    ById,
    List,
    Create,
    Check,
}

type Call = (Method, String, Option<String>);

/// The request a route's cell sends.
type Request = Box<dyn Fn(&Made) -> Result<Call>>;

/// One route of the table: its name, the KMS subject and actions it needs, its shape, the
/// request a cell sends and what an allowed answer is.
struct Route {
    name: String,
    subject: &'static str,
    needs: &'static [&'static str],
    shape: Shape,
    request: Request,
    allowed: fn(&Made, &Answer) -> bool,
}

const SYNC: &str = "secret-syncs";
const CONNECTION: &str = "app-connections";

impl Route {
    /// A route allowed when it answers 200.
    fn new(
        name: impl Into<String>,
        (subject, needs): (&'static str, &'static [&'static str]),
        shape: Shape,
        request: impl Fn(&Made) -> Result<Call> + 'static,
    ) -> Route {
        let name = name.into();
        let request = Box::new(request);
        Route {
            name,
            subject,
            needs,
            shape,
            request,
            allowed: ok,
        }
    }

    /// Allowed when `allowed` says so.
    fn allowed(self, allowed: fn(&Made, &Answer) -> bool) -> Route {
        Route { allowed, ..self }
    }
}

fn ok(_: &Made, a: &Answer) -> bool {
    a.status == 200
}

fn lists(a: &Answer, key: &str, id: &str) -> bool {
    a.status == 200
        && a.body[key]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["id"] == json!(id)))
}

fn duplicates(made: &Made, a: &Answer) -> bool {
    a.status == 200
        && a.body["duplicates"]
            .as_array()
            .is_some_and(|d| d.iter().any(|i| i["syncId"] == json!(made.sync)))
}

fn get(path: String) -> Result<Call> {
    Ok((Method::GET, path, None))
}

fn routes() -> Vec<Route> {
    let mut all = sync_routes();
    all.extend(by_id("sync", SYNC, SYNCS, |m| &m.sync));
    all.extend(trigger_routes());
    all.extend(connection_routes());
    all.extend(by_id("connection", CONNECTION, CONNS, |m| &m.spare));
    all
}

/// Get, patch and delete of one `what` by its id (`id` in a cell) under `base`.
fn by_id(
    what: &str,
    subject: &'static str,
    base: &'static str,
    id: fn(&Made) -> &str,
) -> Vec<Route> {
    let route = move |verb: &str, needs, method: Method, body: Option<&'static str>| {
        let request = move |m: &Made| {
            Ok((
                method.clone(),
                format!("{base}/{}", id(m)),
                body.map(Into::into),
            ))
        };
        Route::new(
            format!("{verb} {what}"),
            (subject, needs),
            Shape::ById,
            request,
        )
    };
    vec![
        route("get", &["read"], Method::GET, None),
        route(
            "patch",
            &["read", "edit"],
            Method::PATCH,
            Some(r#"{"description": "changed"}"#),
        ),
        route("delete", &["read", "delete"], Method::DELETE, None),
    ]
}

fn sync_routes() -> Vec<Route> {
    let create = |m: &Made| {
        let body = sync_body(&format!("new-{}", m.n), PROJECT_A, &m.conn)?;
        Ok((Method::POST, SYNCS.into(), Some(body)))
    };
    let by_name = |m: &Made| {
        get(format!(
            "{SYNCS}/sync-name/{}?projectId={PROJECT_A}",
            m.name
        ))
    };
    vec![
        Route::new("list syncs", (SYNC, &["read"]), Shape::List, |_| {
            get(format!("{SYNCS}?projectId={PROJECT_A}"))
        })
        .allowed(|m, a| lists(a, "secretSyncs", &m.sync)),
        Route::new("create sync", (SYNC, &["create"]), Shape::Create, create),
        Route::new("get sync by name", (SYNC, &["read"]), Shape::ById, by_name),
    ]
}

/// `POST` of `{SYNCS}/{sync}/{path}`.
fn post_to_sync(path: &'static str) -> impl Fn(&Made) -> Result<Call> {
    move |m| Ok((Method::POST, format!("{SYNCS}/{}/{path}", m.sync), None))
}

fn trigger_routes() -> Vec<Route> {
    let removing = |m: &Made| {
        Ok((
            Method::DELETE,
            format!("{SYNCS}/{}?removeSecrets=true", m.sync),
            None,
        ))
    };
    let check = |_: &Made| {
        let body = json!({"projectId": PROJECT_A, "destinationConfig":
            {"accountId": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "accountName": "Example Company"}});
        Ok((
            Method::POST,
            format!("{SYNCS}/check-destination"),
            Some(body.to_string()),
        ))
    };
    let import = post_to_sync("import-secrets?importBehavior=prioritize-source");
    vec![
        Route::new(
            "delete sync removing secrets",
            (SYNC, &["read", "delete", "remove-secrets"]),
            Shape::ById,
            removing,
        ),
        Route::new(
            "sync secrets",
            (SYNC, &["read", "sync-secrets"]),
            Shape::ById,
            post_to_sync("sync-secrets"),
        ),
        Route::new(
            "remove secrets",
            (SYNC, &["read", "remove-secrets"]),
            Shape::ById,
            post_to_sync("remove-secrets"),
        ),
        Route::new(
            "import secrets",
            (SYNC, &["read", "import-secrets"]),
            Shape::ById,
            import,
        )
        .allowed(|_, a| {
            a.status == 400 && text(&a.body, "/message").contains("does not support importing")
        }),
        Route::new("check destination", (SYNC, &["read"]), Shape::Check, check).allowed(duplicates),
    ]
}

fn connection_routes() -> Vec<Route> {
    let create = |m: &Made| {
        Ok((
            Method::POST,
            CONNS.into(),
            Some(connection_body(&format!("new-{}", m.n), PROJECT_A)),
        ))
    };
    vec![
        Route::new(
            "list connections of a project",
            (CONNECTION, &["read"]),
            Shape::List,
            |_| get(format!("{CONNS}?projectId={PROJECT_A}")),
        )
        .allowed(|m, a| lists(a, "appConnections", &m.spare)),
        Route::new(
            "list connections",
            (CONNECTION, &["read"]),
            Shape::List,
            |_| get(CONNS.into()),
        )
        .allowed(|m, a| lists(a, "appConnections", &m.spare)),
        Route::new(
            "create connection",
            (CONNECTION, &["create"]),
            Shape::Create,
            create,
        ),
    ]
}

/// One column of the table: which grants the caller holds, where.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    /// Exactly the route's actions in project A.
    Exact,
    /// The route's actions but its own (the last one).
    NoAction,
    /// Exactly the route's actions, in project B.
    OtherProject,
    /// The route's actions where `environment` is in [dev, staging] and `secretPath` globs
    /// `/app/**` (the sync's: dev, /app/db).
    CondMatch,
    /// The route's actions where `environment` is `prod`.
    CondMiss,
    /// Create a sync without `connect` on the connection.
    NoConnect,
    /// Create a sync without read access to the source folder's secrets.
    NoSourceRead,
    /// Create a sync on a connection of project B (the caller may read and connect it
    /// there): it is usable only inside its own project.
    ConnOtherProject,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Allowed,
    Forbidden,
    Hidden,
    /// 400 naming the rule broken (a connection of another project), as the KMS answers.
    Refused,
}

fn cells(route: &Route) -> Vec<Cell> {
    let mut cells = vec![Cell::Exact, Cell::NoAction, Cell::OtherProject];
    if route.subject == SYNC {
        cells.extend([Cell::CondMatch, Cell::CondMiss]);
        if route.shape == Shape::Create {
            cells.extend([Cell::NoConnect, Cell::NoSourceRead, Cell::ConnOtherProject]);
        }
    }
    cells
}

fn expected(route: &Route, cell: Cell) -> Expect {
    use Shape::*;
    match (cell, route.shape) {
        (Cell::Exact | Cell::CondMatch, _) => Expect::Allowed,
        (Cell::NoAction, ById) if route.needs.len() == 1 => Expect::Hidden,
        (Cell::NoAction, List) => Expect::Hidden,
        (Cell::NoAction, _) => Expect::Forbidden,
        (Cell::OtherProject, ById | List) => Expect::Hidden,
        (Cell::OtherProject, Create | Check) => Expect::Forbidden,
        (Cell::CondMiss, Create) => Expect::Forbidden,
        (Cell::CondMiss, _) => Expect::Hidden,
        (Cell::NoConnect | Cell::NoSourceRead, _) => Expect::Forbidden,
        (Cell::ConnOtherProject, _) => Expect::Refused,
    }
}

/// The caller's grants for `cell`: `{project: [grant, ...]}`.
fn grants(route: &Route, cell: Cell) -> Value {
    let conditions = match cell {
        Cell::CondMatch => {
            json!({"environment": {"$in": ["dev", "staging"]}, "secretPath": {"$glob": "/app/**"}})
        }
        Cell::CondMiss => json!({"environment": {"$eq": "prod"}}),
        _ => json!({}),
    };
    let mut actions: Vec<&str> = route.needs.to_vec();
    if cell == Cell::NoAction {
        actions.pop();
    }
    let mut list = Vec::new();
    if !actions.is_empty() {
        list.push(json!({"subject": route.subject, "actions": actions, "conditions": conditions}));
    }
    if route.shape == Shape::Create && route.subject == SYNC {
        if cell != Cell::NoSourceRead {
            list.push(
                json!({"subject": "secrets", "actions": ["read-value"], "conditions": conditions}),
            );
        }
        let connect: &[&str] = if cell == Cell::NoConnect {
            &["read"]
        } else {
            &["read", "connect"]
        };
        list.push(json!({"subject": "app-connections", "actions": connect}));
    }
    let mut projects = serde_json::Map::new();
    let here = if cell == Cell::OtherProject {
        PROJECT_B
    } else {
        PROJECT_A
    };
    projects.insert(here.to_owned(), Value::Array(list));
    if cell == Cell::ConnOtherProject {
        projects.insert(
            PROJECT_B.to_owned(),
            json!([{"subject": "app-connections", "actions": ["read", "connect"]}]),
        );
    }
    Value::Object(projects)
}

fn token(route: usize, cell: Cell) -> String {
    format!("perm-{route}-{cell:?}-0123456789")
}

/// The token file: the admin ([`TOKEN`], full access) and one caller per cell.
fn token_file(routes: &[Route]) -> Result<TokenFileAuthorizer> {
    let mut tokens = vec![
        json!({"name": "admin", "sha256": TokenFileAuthorizer::digest(TOKEN), "fullAccess": true}),
    ];
    for (i, route) in routes.iter().enumerate() {
        for cell in cells(route) {
            tokens.push(json!({
                "name": format!("{}: {cell:?}", route.name),
                "sha256": TokenFileAuthorizer::digest(&token(i, cell)),
                "projects": grants(route, cell),
            }));
        }
    }
    TokenFileAuthorizer::from_json(&json!({"tokens": tokens}).to_string())
}

async fn api(db: &TestDb, auth: Auth) -> Result<Api> {
    let registry = crate::support::registry(db).await?;
    Api::custom(registry, auth, |b| b).await
}

async fn run_cell(
    db: &TestDb,
    api: &Api,
    route: &Route,
    i: usize,
    cell: Cell,
    n: usize,
) -> Result<()> {
    let made = Made::new(api, n).await?;
    let mut call = (route.request)(&made)?;
    if cell == Cell::ConnOtherProject {
        call.2 = Some(sync_body(&format!("new-{n}"), PROJECT_A, &made.other)?);
    }
    let what = format!("{} × {cell:?}", route.name);
    let before = snapshot(db, api).await?;
    let answer = api
        .call_as(&token(i, cell), call.0.clone(), &call.1, call.2.as_deref())
        .await?;
    let want = expected(route, cell);
    let fail =
        |why: &str| Error::unexpected(format!("{what}: {why}: {} {}", answer.status, answer.body));
    if want == Expect::Allowed {
        return if (route.allowed)(&made, &answer) {
            Ok(())
        } else {
            Err(fail("expected allowed"))
        };
    }
    if snapshot(db, api).await? != before {
        return Err(fail("a refused request changed the registry"));
    }
    if (route.allowed)(&made, &answer) {
        return Err(fail("expected refused"));
    }
    match (want, route.shape) {
        (Expect::Forbidden, _)
            if answer.status == 403 && answer.body["error"] == "PermissionDenied" =>
        {
            Ok(())
        }
        (Expect::Forbidden, _) => Err(fail("expected 403")),
        (Expect::Refused, _)
            if answer.status == 400
                && text(&answer.body, "/message").contains("another project") =>
        {
            Ok(())
        }
        (Expect::Refused, _) => Err(fail("expected 400 naming another project")),
        (Expect::Hidden, Shape::List | Shape::Check) if answer.status == 200 => Ok(()),
        (Expect::Hidden, _) => same_as_missing(api, route, i, cell, &made, &answer)
            .await
            .map_err(|e| fail(e.message())),
        (Expect::Allowed, _) => Ok(()),
    }
}

/// A hidden resource is answered exactly as a missing one (status, error, message).
async fn same_as_missing(
    api: &Api,
    route: &Route,
    i: usize,
    cell: Cell,
    made: &Made,
    answer: &Answer,
) -> Result<()> {
    let missing = Made::missing(made.n);
    let mut call = (route.request)(&missing)?;
    if cell == Cell::ConnOtherProject {
        call.2 = Some(sync_body(
            &format!("new-{}", made.n),
            PROJECT_A,
            &missing.other,
        )?);
    }
    let absent = api
        .call_as(&token(i, cell), call.0, &call.1, call.2.as_deref())
        .await?;
    let (hidden, gone) = (made.neutral(answer), missing.neutral(&absent));
    if answer.status != 404 || hidden != gone {
        return Err(Error::unexpected(format!(
            "hidden `{hidden}` differs from missing `{gone}`"
        )));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_checks_its_action_in_every_cell() -> Result<()> {
    let db = db!("every_route_checks_its_action_in_every_cell");
    let routes = routes();
    let api = api(&db, Auth::authorizer(token_file(&routes)?)).await?;
    let mut n = 0;
    for (i, route) in routes.iter().enumerate() {
        for cell in cells(route) {
            n += 1;
            run_cell(&db, &api, route, i, cell, n).await?;
        }
    }
    assert!(n > 70, "{n} cells");
    Ok(())
}
