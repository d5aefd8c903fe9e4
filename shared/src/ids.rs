//! Identifiers checked at the edge: a `ProjectId` is only ever built from text that
//! matches the one strict pattern, so a value of this type is safe to put in a KV key,
//! an upstream URL path or a page. Request ids are random and go on every log line and
//! error so a user can quote them.

use std::fmt;

/// Maximum length of a project id, prefix included. Real ids are far shorter; the bound
/// keeps KV keys and URLs small whatever a client sends.
pub const PROJECT_ID_MAX_LEN: usize = 64;

const PROJECT_ID_PREFIX: &str = "proj_";

/// A Management API project id: `proj_` followed by 1 to 59 ASCII letters or digits.
///
/// Anything else (slashes, dots, percent signs, NUL, non-ASCII look-alikes, whitespace)
/// is rejected, which rules out path traversal and key injection in one place.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(String);

/// The reason a project id was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectIdError {
    Empty,
    TooLong,
    MissingPrefix,
    InvalidCharacter,
}

impl fmt::Display for ProjectIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self {
            ProjectIdError::Empty => "is empty",
            ProjectIdError::TooLong => "is longer than 64 characters",
            ProjectIdError::MissingPrefix => "does not start with \"proj_\"",
            ProjectIdError::InvalidCharacter => {
                "may only contain ASCII letters and digits after \"proj_\""
            }
        };
        write!(f, "the project id {reason}")
    }
}

impl ProjectId {
    /// Parses `text` as a project id, rejecting everything outside the strict pattern.
    pub fn parse(text: &str) -> Result<ProjectId, ProjectIdError> {
        if text.is_empty() {
            return Err(ProjectIdError::Empty);
        }
        if text.len() > PROJECT_ID_MAX_LEN {
            return Err(ProjectIdError::TooLong);
        }
        let Some(rest) = text.strip_prefix(PROJECT_ID_PREFIX) else {
            return Err(ProjectIdError::MissingPrefix);
        };
        if rest.is_empty() || !rest.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return Err(ProjectIdError::InvalidCharacter);
        }
        Ok(ProjectId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProjectId({})", self.0)
    }
}

/// A random per-request id: 16 lowercase hex characters.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Makes a new id from the platform's secure random source. If that source fails,
    /// which it should never do, the id falls back to all zeros rather than failing the
    /// request: the id only helps correlate logs.
    pub fn generate() -> RequestId {
        let mut bytes = [0u8; 8];
        if getrandom::getrandom(&mut bytes).is_err() {
            bytes = [0; 8];
        }
        RequestId(hex(&bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

/// Encodes bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_id_accepts_prefixed_alphanumerics() {
        let id = ProjectId::parse("proj_cmf3k2x9a0001abc").map(|id| id.to_string());

        assert_eq!(id, Ok("proj_cmf3k2x9a0001abc".to_owned()));
    }

    #[test]
    fn project_id_rejects_hostile_text() {
        let cases = [
            ("", ProjectIdError::Empty),
            ("proj_", ProjectIdError::InvalidCharacter),
            ("cmf3k2x9a0001abc", ProjectIdError::MissingPrefix),
            ("PROJ_abc", ProjectIdError::MissingPrefix),
            ("proj_../../v1/projects", ProjectIdError::InvalidCharacter),
            ("proj_abc%2Fdef", ProjectIdError::InvalidCharacter),
            ("proj_abc/def", ProjectIdError::InvalidCharacter),
            ("proj_abc\0", ProjectIdError::InvalidCharacter),
            ("proj_abc def", ProjectIdError::InvalidCharacter),
            ("proj_abc<script>", ProjectIdError::InvalidCharacter),
            // Cyrillic "а" looks like the Latin letter.
            ("proj_\u{0430}bc", ProjectIdError::InvalidCharacter),
            ("proj_abc_def", ProjectIdError::InvalidCharacter),
        ];

        for (text, expected) in cases {
            assert_eq!(ProjectId::parse(text), Err(expected), "input {text:?}");
        }
    }

    #[test]
    fn project_id_rejects_overlong_text() {
        let longest = format!("proj_{}", "a".repeat(PROJECT_ID_MAX_LEN - 5));
        let too_long = format!("proj_{}", "a".repeat(5000));

        assert!(ProjectId::parse(&longest).is_ok());
        assert_eq!(ProjectId::parse(&too_long), Err(ProjectIdError::TooLong));
    }

    #[test]
    fn request_id_is_sixteen_hex_characters() {
        let id = RequestId::generate();

        assert_eq!(id.as_str().len(), 16);
        assert!(id.as_str().bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(id, RequestId::generate());
    }
}
