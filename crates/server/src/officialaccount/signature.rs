//! The official account's SHA-1 signatures: `sha1(sorted(parts).join(""))`, lowercase hex.
//!
//! The server check and every message carry `signature` over (token, timestamp, nonce); in
//! safe mode `msg_signature` also covers the `Encrypt` element, so it binds the body.

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};

/// How far a message's timestamp may be from now, in seconds, before it is refused.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// The signature over `parts`: sorted, concatenated, SHA-1, lowercase hex.
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let hash = digest(&SHA1_FOR_LEGACY_USE_ONLY, sorted.concat().as_bytes());
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `signature` (hex, any case) is the signature over `parts`, compared in constant
/// time.
pub fn verify(signature: &str, parts: &[&str]) -> bool {
    let expected = sign(parts);
    aws_lc_rs::constant_time::verify_slices_are_equal(
        expected.as_bytes(),
        signature.trim().to_ascii_lowercase().as_bytes(),
    )
    .is_ok()
}

/// A message timestamp is not a number, or too far from now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("timestamp is not a number of seconds")]
    Malformed,
    #[error("timestamp is more than {MAX_CLOCK_SKEW_SECS} s from now")]
    Stale,
}

/// Refuses timestamps (unix seconds) more than [`MAX_CLOCK_SKEW_SECS`] before or after `now`,
/// so a captured signed request cannot be replayed later.
pub fn check_fresh(timestamp: &str, now_secs: i64) -> Result<(), TimestampError> {
    let at: i64 = timestamp.parse().map_err(|_| TimestampError::Malformed)?;
    if (now_secs - at).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(TimestampError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_sorts_concatenates_and_hashes() {
        // sha1("1409659813" + "263014780" + "abc") computed independently:
        // sorted order is "1409659813" < "263014780" < "abc".
        let expected = {
            let d = digest(&SHA1_FOR_LEGACY_USE_ONLY, b"1409659813263014780abc");
            d.as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(sign(&["abc", "1409659813", "263014780"]), expected);
        assert_eq!(sign(&["263014780", "abc", "1409659813"]), expected);
        // The SHA-1 of "abc" alone is the FIPS 180 test vector.
        assert_eq!(sign(&["abc"]), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn a_good_signature_holds_and_a_bad_one_does_not() {
        let parts = ["token", "1700000000", "nonce"];
        let good = sign(&parts);
        assert!(verify(&good, &parts));
        assert!(verify(&good.to_ascii_uppercase(), &parts));
        let mut bad = good.clone().into_bytes();
        bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
        assert!(!verify(std::str::from_utf8(&bad).unwrap(), &parts));
        assert!(!verify("", &parts));
        assert!(!verify(&good, &["other-token", "1700000000", "nonce"]));
    }

    #[test]
    fn stale_or_future_timestamps_are_refused() {
        let now = 1_700_000_000;
        assert_eq!(check_fresh("1700000000", now), Ok(()));
        assert_eq!(check_fresh("1699999700", now), Ok(()));
        assert_eq!(check_fresh("1699999699", now), Err(TimestampError::Stale));
        assert_eq!(check_fresh("1700000301", now), Err(TimestampError::Stale));
        assert_eq!(check_fresh("soon", now), Err(TimestampError::Malformed));
    }
}
