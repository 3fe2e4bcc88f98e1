//! Who buys: a user is identified by their official-account openid.

use std::fmt;

/// A user's id: the openid the official account gives a follower.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

/// The text is not a usable user id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a user id is 1 to 64 characters of [0-9A-Za-z_-], got {0:?}")]
pub struct UserIdError(pub String);

impl UserId {
    /// Parses an openid-shaped id.
    pub fn parse(text: &str) -> Result<Self, UserIdError> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(UserIdError(text.chars().take(80).collect()))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_openids_and_refuses_the_rest() {
        assert!(UserId::parse("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("a b").is_err());
        assert!(UserId::parse(&"x".repeat(65)).is_err());
    }
}
