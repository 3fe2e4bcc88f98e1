//! The canonical URL a request signs: path plus `?query` exactly as sent on the wire.

use reqwest::Url;

/// Percent-encodes one path segment or query value, keeping only RFC 3986 unreserved
/// characters: `out_trade_no` may contain `|` and `*`, and a caller's id must never be able
/// to add a path segment or a query parameter.
pub fn encode_component(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The canonical URL of `url`: taken from the parsed URL that is sent, so any normalisation
/// the URL parser does is part of what is signed.
pub fn canonical_url(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_so_they_cannot_escape_their_segment() {
        assert_eq!(encode_component("ORD_123-x.y~z"), "ORD_123-x.y~z");
        assert_eq!(encode_component("A|B*C"), "A%7CB%2AC");
        assert_eq!(encode_component("../x?mchid=1#f"), "..%2Fx%3Fmchid%3D1%23f");
        assert_eq!(encode_component("a b/订单"), "a%20b%2F%E8%AE%A2%E5%8D%95");
    }

    #[test]
    fn the_canonical_url_is_path_and_query_as_sent() {
        let url = Url::parse(&format!(
            "https://api.mch.weixin.qq.com/v3/pay/transactions/out-trade-no/{}?mchid={}",
            encode_component("ORD|123"),
            encode_component("1900007291")
        ))
        .unwrap();
        assert_eq!(
            canonical_url(&url),
            "/v3/pay/transactions/out-trade-no/ORD%7C123?mchid=1900007291"
        );
        let url = Url::parse("http://127.0.0.1:8080/v3/certificates").unwrap();
        assert_eq!(canonical_url(&url), "/v3/certificates");
    }

    #[test]
    fn a_base_url_path_prefix_is_part_of_the_canonical_url() {
        let url = Url::parse("http://127.0.0.1:8080/wx/v3/refund/domestic/refunds/R1").unwrap();
        assert_eq!(canonical_url(&url), "/wx/v3/refund/domestic/refunds/R1");
    }
}
