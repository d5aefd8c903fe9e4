//! Reading what a browser sends: query strings and form bodies as name/value pairs, the
//! marketing tags of a claim link, and cookies. Nothing here trusts a value: callers
//! validate each one before it reaches KV, an upstream URL or a page.

use shared::ProjectId;
use std::fmt;

/// Longest `utm_source` or `utm_medium` value that is kept; longer ones are dropped.
pub const MAX_UTM_CHARS: usize = 100;

/// The decoded pairs of a query string or an `application/x-www-form-urlencoded` body.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// A parameter that must appear at most once appeared several times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedParameter(pub &'static str);

impl Params {
    pub fn parse(input: &[u8]) -> Self {
        let pairs = form_urlencoded::parse(input).map(|(name, value)| (name.into_owned(), value.into_owned())).collect();
        Params { pairs }
    }

    /// Returns the value of `name`, `None` when it is absent or empty, and an error when
    /// it appears more than once, because two values of one OAuth parameter leave it
    /// unclear which one the sender meant (RFC 6749 section 3.1).
    pub fn single(&self, name: &'static str) -> Result<Option<&str>, RepeatedParameter> {
        let mut values = self.pairs.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(RepeatedParameter(name));
        }
        Ok(first.filter(|value| !value.is_empty()))
    }

    /// Returns the first non-empty value of `name`, for parameters where a repeat is harmless.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(key, value)| key == name && !value.is_empty()).map(|(_, value)| value.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(key, _)| key == name)
    }
}

/// The `utm_source` and `utm_medium` of a claim link, carried through the claim so
/// analytics can attribute it. A value that is too long or has control characters is
/// dropped rather than rejected: a marketing tag is never worth failing a claim over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
}

impl Utm {
    pub fn from_params(params: &Params) -> Self {
        Utm::new(params.first("utm_source"), params.first("utm_medium"))
    }

    pub fn new(source: Option<&str>, medium: Option<&str>) -> Self {
        Utm { source: source.and_then(clean_tag), medium: medium.and_then(clean_tag) }
    }
}

fn clean_tag(value: &str) -> Option<String> {
    let value = value.trim();
    let acceptable = !value.is_empty() && value.chars().count() <= MAX_UTM_CHARS && !value.chars().any(char::is_control);
    acceptable.then(|| value.to_owned())
}

/// The claim page of one project with the tags it was opened with, as a same-origin path:
/// every page that tells the user to start again links here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLink {
    pub project_id: ProjectId,
    pub utm: Utm,
}

impl ClaimLink {
    /// Returns `/claim?projectID=…` with the tags, percent-encoded.
    pub fn path(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("projectID", self.project_id.as_str());
        if let Some(source) = &self.utm.source {
            query.append_pair("utm_source", source);
        }
        if let Some(medium) = &self.utm.medium {
            query.append_pair("utm_medium", medium);
        }
        format!("/claim?{}", query.finish())
    }
}

/// Returns every value of cookie `name` in a `Cookie` header. Browsers may send several
/// cookies of one name (set for different paths), so callers get them all.
pub fn cookie_values<'a>(header: Option<&'a str>, name: &str) -> Vec<&'a str> {
    let Some(header) = header else {
        return Vec::new();
    };
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .collect()
}

/// Shortens client-sent text and removes control characters before it goes into a page
/// or message, where the template escapes it.
pub fn truncate_for_display(text: &str, max_chars: usize) -> String {
    let mut shown: String = text.chars().filter(|character| !character.is_control()).take(max_chars).collect();
    if text.chars().count() > max_chars {
        shown.push('…');
    }
    shown
}

impl fmt::Display for RepeatedParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the parameter {} appears more than once", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_rejects_repeats_and_ignores_empty() {
        let params = Params::parse(b"code=abc&state=&state=x&projectID=proj_a");

        assert_eq!(params.single("code"), Ok(Some("abc")));
        assert_eq!(params.single("missing"), Ok(None));
        assert_eq!(params.single("state"), Err(RepeatedParameter("state")));
        assert_eq!(params.single("projectID"), Ok(Some("proj_a")));
    }

    #[test]
    fn params_decode_percent_and_plus() {
        let params = Params::parse(b"utm_source=a%3Cb%3E+c");

        assert_eq!(params.first("utm_source"), Some("a<b> c"));
    }

    #[test]
    fn utm_drops_overlong_and_control_values() {
        let long = "x".repeat(MAX_UTM_CHARS + 1);

        assert_eq!(Utm::new(Some("create-db"), Some("cli")).source.as_deref(), Some("create-db"));
        assert_eq!(Utm::new(Some(&long), None).source, None);
        assert_eq!(Utm::new(Some("a\u{0}b"), None).source, None);
        assert_eq!(Utm::new(Some("   "), None).source, None);
    }

    #[test]
    fn cookie_values_finds_every_match() {
        let header = Some("a=1; __Host-claim=one; b=2;__Host-claim=\"two\"");

        assert_eq!(cookie_values(header, "__Host-claim"), vec!["one", "two"]);
        assert!(cookie_values(header, "claim").is_empty());
        assert!(cookie_values(None, "a").is_empty());
    }

    #[test]
    fn claim_link_encodes_tags() {
        let link = ClaimLink { project_id: ProjectId::parse("proj_a1").unwrap(), utm: Utm::new(Some("a&b=<c>"), Some("cli")) };

        assert_eq!(link.path(), "/claim?projectID=proj_a1&utm_source=a%26b%3D%3Cc%3E&utm_medium=cli");
    }

    #[test]
    fn truncate_for_display_limits_length() {
        assert_eq!(truncate_for_display("abc\ndef", 10), "abcdef");
        assert_eq!(truncate_for_display("abcdef", 3), "abc…");
    }
}
