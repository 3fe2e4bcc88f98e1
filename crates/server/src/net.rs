//! Small facts about addresses that several parts of the wiring need.

/// Whether `url` points at this host's loopback (`127.0.0.0/8`, `::1`, `localhost`): such a
/// peer (the built-in sandbox, the offline model) is reached directly, never through an
/// environment proxy.
pub fn is_loopback(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_urls_are_told_apart() {
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://127.9.9.9",
            "http://[::1]:80",
            "http://localhost/x",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://api.openai.com/v1",
            "http://127.example.com",
            "http://10.0.0.1",
            "nonsense",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
