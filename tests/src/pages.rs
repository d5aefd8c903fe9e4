//! HTML pages of the emulated Prisma Auth: the sign-in page where a person picks a seeded
//! user and workspace, and the error page for requests that cannot be redirected back.
//! Plain forms with no JavaScript; every value from a request is HTML-escaped.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::config::PlatformConfig;

/// The validated parameters that the sign-in form carries through to `POST /authorize`.
pub(crate) struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub code_challenge: String,
    pub scope: Option<String>,
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{title}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}}\
         label{{display:block;margin-top:1rem;font-weight:600}}select{{width:100%;padding:.4rem}}\
         .actions{{margin-top:1.5rem;display:flex;gap:.75rem}}button{{padding:.5rem 1.2rem}}</style>\n\
         </head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        title = escape_html(title),
    )
}

fn hidden_input(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
        escape_html(name),
        escape_html(value)
    )
}

/// Renders the sign-in page: a user list, a workspace list covering every user's
/// workspaces (the server checks the pair on submit), and the Authorize and Cancel buttons.
pub(crate) fn sign_in_page(config: &PlatformConfig, request: &AuthorizationRequest) -> Response {
    let mut users = String::new();
    let mut workspaces = String::new();
    for user in &config.users {
        users.push_str(&format!(
            "<option value=\"{}\">{}</option>\n",
            escape_html(&user.id),
            escape_html(&user.name)
        ));
        for workspace in &user.workspaces {
            workspaces.push_str(&format!(
                "<option value=\"{}\">{} — {}</option>\n",
                escape_html(&workspace.id),
                escape_html(&user.name),
                escape_html(&workspace.name)
            ));
        }
    }

    let mut hidden = String::new();
    hidden.push_str(&hidden_input("client_id", &request.client_id));
    hidden.push_str(&hidden_input("redirect_uri", &request.redirect_uri));
    hidden.push_str(&hidden_input("response_type", "code"));
    hidden.push_str(&hidden_input("state", &request.state));
    hidden.push_str(&hidden_input("code_challenge", &request.code_challenge));
    hidden.push_str(&hidden_input("code_challenge_method", "S256"));
    if let Some(scope) = &request.scope {
        hidden.push_str(&hidden_input("scope", scope));
    }

    let body = format!(
        "<h1>Sign in to Prisma</h1>\n\
         <p>This is the local Prisma platform. The application <strong>{client}</strong> \
         requests admin access to one of your workspaces. Choose a user and one of that \
         user's workspaces.</p>\n\
         <form method=\"post\" action=\"/authorize\">\n{hidden}\
         <label for=\"user\">User</label>\n<select id=\"user\" name=\"user\">\n{users}</select>\n\
         <label for=\"workspace\">Workspace</label>\n<select id=\"workspace\" name=\"workspace\">\n{workspaces}</select>\n\
         <div class=\"actions\">\n\
         <button type=\"submit\" name=\"decision\" value=\"authorize\">Authorize</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"cancel\">Cancel</button>\n\
         </div>\n</form>",
        client = escape_html(&request.client_id),
    );

    Html(layout("Sign in to Prisma (local)", &body)).into_response()
}

/// Renders a 400 page for a request that is not sent back to the client, because its
/// client or redirect URI cannot be trusted or the submitted form is invalid.
pub(crate) fn error_page(message: &str) -> Response {
    let body = format!(
        "<h1>Authorization failed</h1>\n<p>{}</p>\n\
         <p>Go back to the application that sent you here and start the sign-in again.</p>",
        escape_html(message)
    );
    (
        StatusCode::BAD_REQUEST,
        Html(layout("Authorization failed", &body)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_html_covers_markup_characters() {
        assert_eq!(
            escape_html("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;'&lt;/a&gt;"
        );
    }
}
