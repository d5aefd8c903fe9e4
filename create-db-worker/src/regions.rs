//! `GET /regions`: the Management API's Postgres regions, passed through, and the cache
//! that lets `/create` check a region without an upstream call on every request.

use crate::app::{Context, Outcome};
use shared::api::RegionList;
use shared::config::{self, ConfigSource};
use shared::http::{HttpClient, HttpRequest, Method};
use shared::store::KeyValueStore;
use shared::time::{Millis, MINUTE_MS};
use shared::web::WebResponse;
use shared::Error;
use std::cell::RefCell;
use std::rc::Rc;

/// How long a fetched region list is reused unless `REGION_CACHE_MS` sets another window.
/// Regions change rarely; a new one becomes usable here within this window.
pub const DEFAULT_REGION_CACHE_MS: Millis = 5 * MINUTE_MS;

#[derive(Debug, Clone)]
struct CachedRegions {
    api_url: String,
    fetched_at: Millis,
    body: Vec<u8>,
    available_ids: Vec<String>,
}

/// The last good region list, kept for `REGION_CACHE_MS` per isolate. Clones share it.
#[derive(Debug, Default, Clone)]
pub struct RegionCache(Rc<RefCell<Option<CachedRegions>>>);

impl RegionCache {
    fn fresh(&self, api_url: &str, now_ms: Millis, max_age_ms: Millis) -> Option<CachedRegions> {
        self.0
            .borrow()
            .as_ref()
            .filter(|cached| cached.api_url == api_url && now_ms.saturating_sub(cached.fetched_at) < max_age_ms)
            .cloned()
    }
}

/// Reads `REGION_CACHE_MS`; 0 turns the cache off (the end-to-end fault tests need every
/// request to reach the platform).
fn cache_max_age(config: &impl ConfigSource) -> Result<Millis, Error> {
    match config.var("REGION_CACHE_MS").map(|text| text.trim().to_owned()).filter(|text| !text.is_empty()) {
        None => Ok(DEFAULT_REGION_CACHE_MS),
        Some(text) => text.parse().map_err(|_| Error::Config {
            name: "REGION_CACHE_MS",
            reason: format!("is {text:?}, not a whole number of milliseconds"),
        }),
    }
}

pub async fn handle<S, H, C, L>(context: &Context<'_, S, H, C, L>) -> Result<Outcome, Error>
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
{
    let cached = load(context).await?;
    let response = WebResponse { status: 200, headers: Vec::new(), body: cached.body }
        .with_header("content-type", "application/json; charset=utf-8");
    Ok(Outcome::new(response))
}

/// Returns the ids of the regions a project can be created in, from the cache when fresh.
pub async fn available_ids<S, H, C, L>(context: &Context<'_, S, H, C, L>) -> Result<Vec<String>, Error>
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
{
    Ok(load(context).await?.available_ids)
}

async fn load<S, H, C, L>(context: &Context<'_, S, H, C, L>) -> Result<CachedRegions, Error>
where
    S: KeyValueStore,
    H: HttpClient,
    C: ConfigSource,
{
    let api_url = config::base_url(context.config, "PRISMA_API_URL", Some(config::DEFAULT_PRISMA_API_URL))?;
    if let Some(cached) = context.regions.fresh(&api_url, context.now_ms, cache_max_age(context.config)?) {
        return Ok(cached);
    }
    let token = config::required_secret(context.config, "INTEGRATION_TOKEN")?;

    let request = HttpRequest::new(Method::Get, format!("{api_url}/v1/regions/postgres"))
        .header("authorization", format!("Bearer {}", token.expose()))
        .header("accept", "application/json");
    let response = context.http.send(request).await.map_err(|error| Error::from_http(&error))?;
    if !(200..300).contains(&response.status) {
        return Err(Error::Upstream { status: response.status, retry_after_secs: retry_after(&response) });
    }
    let list: RegionList = serde_json::from_slice(&response.body)
        .map_err(|_| Error::UpstreamUnreadable { status: response.status })?;

    let cached = CachedRegions {
        api_url,
        fetched_at: context.now_ms,
        body: response.body,
        available_ids: list.available_ids(),
    };
    *context.regions.0.borrow_mut() = Some(cached.clone());
    Ok(cached)
}

/// Reads a `Retry-After` given in seconds; the HTTP-date form is ignored.
pub fn retry_after(response: &shared::http::HttpResponse) -> Option<u64> {
    response.header_value("retry-after")?.trim().parse().ok()
}
