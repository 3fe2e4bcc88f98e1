//! Sessions: HS256 JWTs whose subject is the user's openid.

use domain::user::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Issues and checks session tokens.
pub struct Sessions {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: chrono::Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    #[error("not logged in: no token")]
    Missing,
    #[error("session expired: log in again")]
    Expired,
    #[error("invalid token: log in again")]
    Invalid,
}

impl Sessions {
    /// Sessions signed with `secret`, valid for `ttl`.
    pub fn new(secret: &[u8], ttl: chrono::Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // Expiry is checked against the service's clock below, not the system's.
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A token for `user`, issued at `now`.
    pub fn issue(&self, user: &UserId, now: chrono::DateTime<chrono::Utc>) -> String {
        let claims = Claims {
            sub: user.as_str().to_owned(),
            iat: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    /// The user a token (raw, or `Bearer …`) speaks for at `now`.
    pub fn verify(
        &self,
        header_value: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<UserId, SessionError> {
        let token = header_value.trim();
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        if token.is_empty() {
            return Err(SessionError::Missing);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| SessionError::Invalid)?;
        if now.timestamp() >= data.claims.exp {
            return Err(SessionError::Expired);
        }
        UserId::parse(&data.claims.sub).map_err(|_| SessionError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_tampering_or_expiry_is_refused() {
        let sessions = Sessions::new(
            b"test-secret-of-enough-length-000",
            chrono::Duration::days(7),
        );
        let user = UserId::parse("oUser_1").unwrap();
        let now = chrono::Utc::now();
        let token = sessions.issue(&user, now);
        assert_eq!(sessions.verify(&token, now), Ok(user.clone()));
        assert_eq!(
            sessions.verify(&format!("Bearer {token}"), now),
            Ok(user.clone())
        );

        let mut tampered = token.clone().into_bytes();
        let i = tampered.len() - 3;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            sessions.verify(std::str::from_utf8(&tampered).unwrap(), now),
            Err(SessionError::Invalid)
        );

        let other = Sessions::new(
            b"another-secret-of-enough-length0",
            chrono::Duration::days(7),
        );
        assert_eq!(other.verify(&token, now), Err(SessionError::Invalid));

        let old = sessions.issue(&user, now - chrono::Duration::days(8));
        assert_eq!(sessions.verify(&old, now), Err(SessionError::Expired));
        assert_eq!(sessions.verify("  ", now), Err(SessionError::Missing));
    }
}
