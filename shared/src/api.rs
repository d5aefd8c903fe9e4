//! Typed views of the Prisma Management API, tolerant of fields they do not name. The
//! create-db worker passes upstream bodies through unchanged, so these types read only
//! what the workers act on (ids, regions, pagination) and leave the rest alone.

use serde::Deserialize;

/// `GET /v1/regions/postgres` → `{"data":[region…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegionList {
    pub data: Vec<Region>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Region {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

impl RegionList {
    /// Returns the ids of the regions a project can be created in now.
    pub fn available_ids(&self) -> Vec<String> {
        self.data
            .iter()
            .filter(|region| region.status.as_deref().is_none_or(|status| status == "available"))
            .map(|region| region.id.clone())
            .collect()
    }
}

/// `POST /v1/projects` and `GET /v1/projects/{id}` → `{"data": project}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectEnvelope {
    pub data: ProjectSummary,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSummary {
    pub id: String,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// `GET /v1/projects?cursor&limit` → one page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectPage {
    pub data: Vec<ProjectSummary>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_list_keeps_available_ids() {
        let body = r#"{"data":[
            {"id":"us-east-1","type":"region","name":"US East","status":"available","extra":1},
            {"id":"eu-west-3","type":"region","name":"EU West","status":"unavailable"}
        ]}"#;

        let regions: RegionList = serde_json::from_str(body).unwrap();

        assert_eq!(regions.available_ids(), vec!["us-east-1".to_owned()]);
    }

    #[test]
    fn project_envelope_ignores_unknown_fields() {
        let body = r#"{"data":{"id":"proj_abc","name":"n","createdAt":"2026-12-04T19:35:03.123Z","database":{"id":"db_1"}}}"#;

        let project: ProjectEnvelope = serde_json::from_str(body).unwrap();

        assert_eq!(project.data.id, "proj_abc");
        assert_eq!(project.data.created_at.as_deref(), Some("2026-12-04T19:35:03.123Z"));
    }

    #[test]
    fn project_page_reads_pagination() {
        let body = r#"{"data":[{"id":"proj_a"}],"pagination":{"nextCursor":"proj_a","hasMore":true}}"#;

        let page: ProjectPage = serde_json::from_str(body).unwrap();

        assert_eq!(page.pagination, Pagination { next_cursor: Some("proj_a".into()), has_more: true });
    }
}
