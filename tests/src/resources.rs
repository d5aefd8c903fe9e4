//! Building project records and rendering them in the JSON shapes that the npm package
//! `@prisma/management-api-sdk` types in `dist/index.d.ts`. `POST /v1/projects` returns the
//! full project with its database, `GET /v1/projects` and `GET /v1/projects/{id}` return the
//! project summary, and `GET /v1/projects/{id}/databases` lists database items. Deprecated
//! fields (`apiKeys`, `connectionString`, `directConnection`) are included.

use jiff::Timestamp;
use serde_json::{json, Value};

use crate::store::{format_timestamp, AppState, Connection, Database, Project};

const DIRECT_HOST: &str = "db.prisma.io";
const POOLED_HOST: &str = "pooled.db.prisma.io";
const POSTGRES_PORT: u16 = 5432;

/// The fields a new project is created from.
pub(crate) struct NewProject {
    pub name: String,
    pub region: String,
    pub workspace_id: String,
    pub logical_id: Option<String>,
    pub created_at: Timestamp,
    pub user_agent: Option<String>,
    pub create_database: bool,
}

/// Builds a project with fresh ids and, unless disabled, a ready default database with one
/// connection whose user and password are random.
pub(crate) fn build_project(new: NewProject) -> std::io::Result<Project> {
    let database = if new.create_database {
        Some(Database {
            id: crate::random::new_id("db_")?,
            name: new.name.clone(),
            created_at: new.created_at,
            connection: Connection {
                id: crate::random::new_id("con_")?,
                name: "Default connection".to_owned(),
                created_at: new.created_at,
                user: crate::random::new_lowercase(32)?,
                password: format!("sk_{}", crate::random::new_secret(24)?),
            },
        })
    } else {
        None
    };

    Ok(Project::new(
        crate::random::new_id("proj_")?,
        new.name,
        new.region,
        new.workspace_id,
        new.logical_id,
        new.created_at,
        new.user_agent,
        database,
    ))
}

fn project_url(state: &AppState, project: &Project) -> String {
    format!("{}/v1/projects/{}", state.base_url, project.id)
}

fn database_url(state: &AppState, database: &Database) -> String {
    format!("{}/v1/databases/{}", state.base_url, database.id)
}

fn connection_url(state: &AppState, connection: &Connection) -> String {
    format!("{}/v1/connections/{}", state.base_url, connection.id)
}

/// `postgres://USER:PASSWORD@HOST:5432/postgres?sslmode=require`; user and password are
/// alphanumeric (plus `_`), so they need no percent-encoding.
fn connection_string(host: &str, connection: &Connection) -> String {
    format!(
        "postgres://{}:{}@{host}:{POSTGRES_PORT}/postgres?sslmode=require",
        connection.user, connection.password
    )
}

fn direct_connection(connection: &Connection) -> Value {
    json!({
        "host": format!("{DIRECT_HOST}:{POSTGRES_PORT}"),
        "user": connection.user,
        "pass": connection.password,
    })
}

fn region_json(state: &AppState, region_id: &str) -> Value {
    let name = state
        .config
        .region(region_id)
        .map_or(region_id, |region| region.name.as_str());
    json!({ "id": region_id, "name": name })
}

/// The project as `GET /v1/projects` and `GET /v1/projects/{id}` return it: no database.
pub(crate) fn project_summary(state: &AppState, project: &Project) -> Value {
    let workspace_name = state
        .config
        .workspace(&project.workspace_id)
        .map_or("", |workspace| workspace.name.as_str());

    json!({
        "id": project.id,
        "type": "project",
        "url": project_url(state, project),
        "name": project.name,
        "logicalId": project.logical_id,
        "createdAt": format_timestamp(project.created_at),
        "defaultRegion": project.region,
        "workspace": {
            "id": project.workspace_id,
            "url": format!("{}/v1/workspaces/{}", state.base_url, project.workspace_id),
            "name": workspace_name,
        },
    })
}

/// The project as `POST /v1/projects` returns it: the summary plus the database with its
/// credentials, which only this response reveals.
pub(crate) fn created_project(state: &AppState, project: &Project) -> Value {
    let mut body = project_summary(state, project);
    body["database"] = match &project.database {
        Some(database) => created_database(state, project, database),
        None => Value::Null,
    };
    body
}

fn created_database(state: &AppState, project: &Project, database: &Database) -> Value {
    let connection = &database.connection;
    let direct = connection_string(DIRECT_HOST, connection);
    let pooled = connection_string(POOLED_HOST, connection);
    let database_ref = json!({
        "id": database.id,
        "url": database_url(state, database),
        "name": database.name,
    });

    let connection_json = json!({
        "id": connection.id,
        "type": "connection",
        "url": connection_url(state, connection),
        "name": connection.name,
        "createdAt": format_timestamp(connection.created_at),
        "kind": "postgres",
        "endpoints": {
            "direct": { "host": DIRECT_HOST, "port": POSTGRES_PORT, "connectionString": direct },
            "pooled": { "host": POOLED_HOST, "port": POSTGRES_PORT, "connectionString": pooled },
        },
        "connectionString": direct,
        "directConnection": direct_connection(connection),
        "database": database_ref,
    });

    // The deprecated `apiKeys` list repeats the connections; its endpoints carry no strings.
    let api_key_json = json!({
        "id": connection.id,
        "type": "connection",
        "url": connection_url(state, connection),
        "name": connection.name,
        "createdAt": format_timestamp(connection.created_at),
        "kind": "postgres",
        "endpoints": {
            "direct": { "host": DIRECT_HOST, "port": POSTGRES_PORT },
            "pooled": { "host": POOLED_HOST, "port": POSTGRES_PORT },
        },
        "connectionString": direct,
        "directConnection": direct_connection(connection),
    });

    json!({
        "id": database.id,
        "type": "database",
        "url": database_url(state, database),
        "name": database.name,
        "status": "ready",
        "createdAt": format_timestamp(database.created_at),
        "isDefault": true,
        "defaultConnectionId": connection.id,
        "connections": [connection_json],
        "region": region_json(state, &project.region),
        "source": { "type": "empty" },
        "branchId": null,
        "logicalId": null,
        "apiKeys": [api_key_json],
        "connectionString": direct,
        "directConnection": direct_connection(connection),
    })
}

/// Renders a database as `GET /v1/projects/{id}/databases` lists it. The SDK types this list
/// without connection strings, so none are sent, and `directConnection` (which would carry the
/// password) is null.
pub(crate) fn listed_database(state: &AppState, project: &Project, database: &Database) -> Value {
    let connection = &database.connection;

    json!({
        "id": database.id,
        "type": "database",
        "url": database_url(state, database),
        "name": database.name,
        "status": "ready",
        "createdAt": format_timestamp(database.created_at),
        "isDefault": true,
        "defaultConnectionId": connection.id,
        "connections": [{
            "id": connection.id,
            "type": "connection",
            "url": connection_url(state, connection),
            "name": connection.name,
            "createdAt": format_timestamp(connection.created_at),
            "kind": "postgres",
            "endpoints": {
                "direct": { "host": DIRECT_HOST, "port": POSTGRES_PORT },
                "pooled": { "host": POOLED_HOST, "port": POSTGRES_PORT },
            },
            "directConnection": null,
            "database": {
                "id": database.id,
                "url": database_url(state, database),
                "name": database.name,
            },
        }],
        "project": {
            "id": project.id,
            "url": project_url(state, project),
            "name": project.name,
        },
        "region": region_json(state, &project.region),
        "source": { "type": "empty" },
        "branchId": null,
        "logicalId": null,
    })
}

/// Renders a project as `GET /_emulator/state` lists it.
pub(crate) fn project_state(project: &Project) -> Value {
    json!({
        "id": project.id,
        "name": project.name,
        "region": project.region,
        "workspaceId": project.workspace_id,
        "createdAt": format_timestamp(project.created_at),
        "deleted": project.deleted,
        "userAgent": project.user_agent,
    })
}
