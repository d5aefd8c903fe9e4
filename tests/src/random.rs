//! Random ids and secrets from the operating system's generator: resource ids such as
//! `proj_…`, database users and passwords, authorization codes and access tokens.

use std::io;

const LOWER_ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Number of random characters after an id prefix.
const ID_LENGTH: usize = 25;

/// Returns `len` characters drawn uniformly from `alphabet` (at most 256 symbols).
fn random_string(alphabet: &[u8], len: usize) -> io::Result<String> {
    // Bytes at or above the largest multiple of the alphabet size are redrawn, so every
    // symbol is equally likely.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buffer = [0u8; 64];

    while out.len() < len {
        getrandom::fill(&mut buffer).map_err(|error| io::Error::other(error.to_string()))?;
        for &byte in &buffer {
            if usize::from(byte) >= limit {
                continue;
            }
            out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
            if out.len() == len {
                break;
            }
        }
    }
    Ok(out)
}

/// Generates a resource id: `prefix` followed by 25 characters of `[a-z0-9]`.
pub(crate) fn new_id(prefix: &str) -> io::Result<String> {
    Ok(format!(
        "{prefix}{}",
        random_string(LOWER_ALPHANUMERIC, ID_LENGTH)?
    ))
}

/// Generates an opaque secret of `len` characters of `[A-Za-z0-9]`, safe in URLs and forms.
pub(crate) fn new_secret(len: usize) -> io::Result<String> {
    random_string(ALPHANUMERIC, len)
}

/// Generates a lowercase alphanumeric string, used for database user names.
pub(crate) fn new_lowercase(len: usize) -> io::Result<String> {
    random_string(LOWER_ALPHANUMERIC, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn id_has_prefix_and_alphabet() -> io::Result<()> {
        let id = new_id("proj_")?;
        let tail = &id["proj_".len()..];

        assert!(id.starts_with("proj_"));
        assert_eq!(tail.len(), 25);
        assert!(tail
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        Ok(())
    }

    #[test]
    fn secrets_do_not_repeat() -> io::Result<()> {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(new_secret(32)?));
        }
        Ok(())
    }
}
