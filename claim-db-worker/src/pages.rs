//! The HTML pages of the claim worker, written as maud templates: maud escapes every
//! spliced value, so text from a request, KV or Prisma can never become markup. Pages
//! have no script, no inline style and no external resources; their one stylesheet is
//! served by this worker at `/style.css`. The security headers are added in `app`.

use crate::error::Error;
use crate::params::{ClaimLink, Utm};
use maud::{html, Markup, DOCTYPE};
use shared::time::{format_iso8601, Millis, DAY_MS, HOUR_MS, MINUTE_MS};
use shared::web::WebResponse;
use shared::{ProjectId, RequestId};

/// The Prisma Console, linked when no project deep link is known.
pub const CONSOLE_URL: &str = "https://console.prisma.io/";

pub const STYLESHEET: &str = include_str!("style.css");

fn layout(title: &str, content: Markup, request_id: Option<&RequestId>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Prisma Postgres" }
                link rel="stylesheet" href="/style.css";
            }
            body {
                header class="brand" { a href="/" { "Prisma Postgres" } span class="tag" { "temporary databases" } }
                main class="card" {
                    h1 { (title) }
                    (content)
                }
                @if let Some(request_id) = request_id {
                    footer { "Request id: " code class="request-id" { (request_id.as_str()) } }
                }
            }
        }
    }
}

/// Wraps a page into an HTML response; `app` adds the security headers.
pub fn html_response(status: u16, page: Markup) -> WebResponse {
    WebResponse { status, headers: Vec::new(), body: page.into_string().into_bytes() }
        .with_header("content-type", "text/html; charset=utf-8")
}

pub fn home() -> Markup {
    let content = html! {
        p {
            "This service moves a temporary Prisma Postgres database into your own Prisma workspace, "
            "so it is kept instead of being deleted when its time runs out."
        }
        h2 { "Get a database" }
        p { "Run this in a terminal; it prints a connection string and a claim link:" }
        pre { code { "npx create-db" } }
        p { "Open the claim link before the database expires and press " strong { "Claim database" } "." }
    };
    layout("Temporary Prisma Postgres databases", content, None)
}

/// Renders the claim page of an unclaimed project: its deletion time and the button that
/// posts to `/claim/start`.
pub fn claim(project_id: &ProjectId, utm: &Utm, expires_at: Millis, now: Millis) -> Markup {
    let content = html! {
        p { "Database " code { (project_id.as_str()) } " is temporary. Claim it to keep it in your own Prisma workspace." }
        div class="expiry" {
            p { "It will be deleted on" }
            p class="when" { time datetime=(format_iso8601(expires_at)) { (human_date_time(expires_at)) } }
            p class="detail" { (format_iso8601(expires_at)) " · " (human_remaining(expires_at, now)) }
        }
        form method="post" action="/claim/start" {
            input type="hidden" name="projectID" value=(project_id.as_str());
            @if let Some(source) = &utm.source { input type="hidden" name="utm_source" value=(source); }
            @if let Some(medium) = &utm.medium { input type="hidden" name="utm_medium" value=(medium); }
            button type="submit" class="primary" { "Claim database" }
        }
        p class="note" { "You will sign in to Prisma and choose the workspace to move the database into." }
    };
    layout("Claim your database", content, None)
}

pub fn success(project_id: &ProjectId, console_link: Option<&str>) -> Markup {
    let content = html! {
        p { "Database " code { (project_id.as_str()) } " now belongs to your Prisma workspace and will not be deleted." }
        p { "Its connection string is unchanged." }
        @if let Some(link) = console_link {
            p { a class="button primary" href=(link) { "Open it in the Prisma Console" } }
        } @else {
            p { a class="button primary" href=(CONSOLE_URL) { "Open the Prisma Console" } }
        }
    };
    layout("Database claimed", content, None)
}

/// The page for a user who pressed Cancel at Prisma's sign-in.
pub fn cancelled(claim_link: Option<&ClaimLink>) -> Markup {
    let content = html! {
        p { "You cancelled the sign-in, so the database was not claimed. It stays available until its deletion time." }
        (back_link(claim_link))
    };
    layout("Claim cancelled", content, None)
}

pub fn error(error: &Error, request_id: &RequestId) -> Markup {
    let content = html! {
        p class="error" { (error.message()) }
        @match error {
            Error::AlreadyClaimed => p { a class="button" href=(CONSOLE_URL) { "Open the Prisma Console" } },
            _ => (back_link(error.claim_link())),
        }
    };
    layout(error.title(), content, Some(request_id))
}

fn back_link(claim_link: Option<&ClaimLink>) -> Markup {
    html! {
        @if let Some(link) = claim_link {
            p { a class="button primary" href=(link.path()) { "Back to the claim page" } }
        } @else {
            p { a class="button" href="/" { "Home" } }
        }
    }
}

const WEEKDAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/// Formats an instant as `Saturday, 5 December 2026, 19:35 UTC`.
pub fn human_date_time(millis: Millis) -> String {
    // `format_iso8601` always returns `YYYY-MM-DDTHH:MM:SS.mmmZ`, so the slices hold.
    let iso = format_iso8601(millis);
    let year = &iso[0..4];
    let month = iso[5..7].parse::<usize>().unwrap_or(1);
    let day = iso[8..10].trim_start_matches('0');
    let time = &iso[11..16];
    // 1970-01-01, day 0, was a Thursday.
    let weekday = WEEKDAYS[(millis / DAY_MS % 7) as usize];
    let month_name = MONTHS.get(month.saturating_sub(1)).copied().unwrap_or("January");
    format!("{weekday}, {day} {month_name} {year}, {time} UTC")
}

/// Describes the time left until `deadline`, e.g. `in 23 hours 59 minutes`.
pub fn human_remaining(deadline: Millis, now: Millis) -> String {
    let left = deadline.saturating_sub(now);
    if left < MINUTE_MS {
        return "in less than a minute".to_owned();
    }
    let days = left / DAY_MS;
    let hours = left % DAY_MS / HOUR_MS;
    let minutes = left % HOUR_MS / MINUTE_MS;
    let unit = |count: u64, name: &str| format!("{count} {name}{}", if count == 1 { "" } else { "s" });
    let parts: Vec<String> = [(days, "day"), (hours, "hour"), (minutes, "minute")]
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, name)| unit(count, name))
        .collect();
    format!("in {}", parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_date_time_names_weekday_and_month() {
        assert_eq!(human_date_time(0), "Thursday, 1 January 1970, 00:00 UTC");
        assert_eq!(human_date_time(1_796_412_903_123), "Friday, 4 December 2026, 19:35 UTC");
        assert_eq!(human_date_time(951_782_400_000), "Tuesday, 29 February 2000, 00:00 UTC");
    }

    #[test]
    fn human_remaining_counts_units() {
        assert_eq!(human_remaining(DAY_MS - 1, 0), "in 23 hours 59 minutes");
        assert_eq!(human_remaining(DAY_MS + MINUTE_MS, 0), "in 1 day 1 minute");
        assert_eq!(human_remaining(5, 10), "in less than a minute");
    }
}
