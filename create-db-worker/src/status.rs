//! `GET /projects/{projectId}`: a temporary database's lifecycle state for clients,
//! read from its KV record: unclaimed, claimed or deleted, with the deletion time and
//! the claim link. The id is checked before KV is touched.

use crate::app::{Context, Outcome};
use serde_json::json;
use shared::config::{self, ConfigSource};
use shared::record::load_record;
use shared::store::KeyValueStore;
use shared::time::format_iso8601;
use shared::web::WebResponse;
use shared::{Error, ProjectId};

pub async fn handle<S, H, C, L>(context: &Context<'_, S, H, C, L>, raw_id: &str) -> Result<Outcome, Error>
where
    S: KeyValueStore,
    C: ConfigSource,
{
    let project_id = ProjectId::parse(raw_id).map_err(|reason| {
        Error::InvalidRequest(format!("Invalid project id: {reason}. Send the id the create response returned."))
    })?;
    let claim_url = config::base_url(context.config, "CLAIM_PUBLIC_URL", None)?;

    let Some(record) = load_record(context.store, &project_id).await? else {
        return Err(Error::NotFound(format!(
            "No temporary database {project_id} is known here: it never existed or its record has expired."
        )));
    };
    Ok(Outcome::new(WebResponse::json(
        200,
        &json!({
            "projectId": project_id.as_str(),
            "status": record.status.as_str(),
            "expiresAt": format_iso8601(record.expires_at),
            "claimUrl": format!("{claim_url}/claim?projectID={project_id}"),
        }),
    )))
}
