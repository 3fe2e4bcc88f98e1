//! The HTTP client: signs every request over the exact bytes sent, verifies every answer
//! before trusting it, and maps answers to typed results or an [`Error`].

use crate::aead::ApiV3Key;
use crate::bill::BillAnswer;
use crate::canonical::{canonical_url, encode_component};
use crate::certificates::{PlatformCertificate, decrypt_certificate};
use crate::error::Error;
use crate::model::{
    CertificatesResponse, CloseRequest, ErrorBody, NativePrepayRequest, NativePrepayResponse,
    Refund, RefundRequest, Transaction,
};
use crate::notify::{Notification, NotifyError};
use crate::signing::MerchantSigner;
use crate::verify::{SignatureHeaders, Verifier, VerifyError, header};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// WeChat Pay's production API host.
pub const DEFAULT_BASE_URL: &str = "https://api.mch.weixin.qq.com";
/// The default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a [`Client`] is built from.
#[derive(Debug)]
pub struct ClientConfig {
    /// Scheme and host (and optional path prefix), without a trailing slash.
    pub base_url: String,
    /// Signs requests; its mchid is also the `mchid` of queries and closes.
    pub signer: MerchantSigner,
    /// The keys answers and callbacks are verified with; shared so that a refresh is seen
    /// by every holder.
    pub verifier: Arc<Verifier>,
    /// The APIv3 key, for callbacks and platform certificates.
    pub apiv3_key: ApiV3Key,
    /// The WeChat Pay public key id (`PUB_KEY_ID_…`), sent as `Wechatpay-Serial` in
    /// public-key mode; `None` in legacy certificate mode.
    pub wechatpay_serial: Option<String>,
    /// Timeout of a whole call, answer included.
    pub timeout: Duration,
    /// Timeout of establishing the connection.
    pub connect_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Whether `HTTPS_PROXY`/`HTTP_PROXY` from the environment apply (default `true`);
    /// `false` for a loopback sandbox that an environment proxy must not intercept.
    pub use_env_proxy: bool,
}

impl ClientConfig {
    /// A configuration for production WeChat Pay with default timeouts.
    pub fn new(signer: MerchantSigner, verifier: Arc<Verifier>, apiv3_key: ApiV3Key) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            signer,
            verifier,
            apiv3_key,
            wechatpay_serial: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: format!("chatmall-wechatpay/{}", env!("CARGO_PKG_VERSION")),
            use_env_proxy: true,
        }
    }
}

/// Why a [`Client`] could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The base URL is not an absolute http(s) URL without query or fragment.
    #[error("base_url {0:?} is not an http(s) URL without query or fragment")]
    BaseUrl(String),
    /// A configured value cannot be an HTTP header value.
    #[error("{0} is not a valid HTTP header value")]
    HeaderValue(&'static str),
    /// The HTTP client could not be set up (e.g. no TLS roots).
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

/// A WeChat Pay API v3 client for one merchant; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base_url: String,
    signer: MerchantSigner,
    verifier: Arc<Verifier>,
    apiv3_key: ApiV3Key,
    wechatpay_serial: Option<HeaderValue>,
    user_agent: HeaderValue,
}

/// An answer as received, before it is trusted.
struct RawAnswer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    request_id: Option<String>,
}

impl Client {
    /// Builds a client; fails on a malformed base URL or header value.
    pub fn new(config: ClientConfig) -> Result<Self, ClientBuildError> {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let parsed =
            Url::parse(&base_url).map_err(|_| ClientBuildError::BaseUrl(base_url.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.query().is_some()
            || parsed.fragment().is_some()
            || parsed.cannot_be_a_base()
        {
            return Err(ClientBuildError::BaseUrl(base_url));
        }
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| ClientBuildError::HeaderValue("user_agent"))?;
        let wechatpay_serial = config
            .wechatpay_serial
            .as_deref()
            .map(HeaderValue::from_str)
            .transpose()
            .map_err(|_| ClientBuildError::HeaderValue("wechatpay_serial"))?;
        let mut http = reqwest::Client::builder();
        if !config.use_env_proxy {
            http = http.no_proxy();
        }
        let http = http
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            // A redirect would resend the request to a URL its signature does not cover.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                signer: config.signer,
                verifier: config.verifier,
                apiv3_key: config.apiv3_key,
                wechatpay_serial,
                user_agent,
            }),
        })
    }

    /// The merchant id requests are made for.
    pub fn mchid(&self) -> &str {
        self.inner.signer.mchid()
    }

    /// The verifier answers and callbacks are checked with.
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.inner.verifier
    }

    /// Creates a Native (QR code) order: POST `/v3/pay/transactions/native`.
    ///
    /// Retrying with identical parameters after an unknown outcome is safe: WeChat treats
    /// it as the same order.
    pub async fn native_prepay(
        &self,
        request: &NativePrepayRequest,
    ) -> Result<NativePrepayResponse, Error> {
        let answer = self
            .call(Method::POST, "/v3/pay/transactions/native", Some(request))
            .await?;
        parse_json(&answer)
    }

    /// Queries an order by the merchant's `out_trade_no`.
    pub async fn query_by_out_trade_no(&self, out_trade_no: &str) -> Result<Transaction, Error> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}?mchid={}",
            encode_component(out_trade_no),
            encode_component(self.mchid())
        );
        let answer = self.call(Method::GET, &path, None::<&()>).await?;
        parse_json(&answer)
    }

    /// Queries an order by WeChat's `transaction_id`.
    pub async fn query_by_transaction_id(
        &self,
        transaction_id: &str,
    ) -> Result<Transaction, Error> {
        let path = format!(
            "/v3/pay/transactions/id/{}?mchid={}",
            encode_component(transaction_id),
            encode_component(self.mchid())
        );
        let answer = self.call(Method::GET, &path, None::<&()>).await?;
        parse_json(&answer)
    }

    /// Closes an unpaid order (WeChat answers 204).
    pub async fn close(&self, out_trade_no: &str) -> Result<(), Error> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/close",
            encode_component(out_trade_no)
        );
        let body = CloseRequest {
            mchid: self.mchid().to_owned(),
        };
        self.call(Method::POST, &path, Some(&body)).await?;
        Ok(())
    }

    /// Requests a refund: POST `/v3/refund/domestic/refunds`.
    pub async fn refund(&self, request: &RefundRequest) -> Result<Refund, Error> {
        let answer = self
            .call(Method::POST, "/v3/refund/domestic/refunds", Some(request))
            .await?;
        parse_json(&answer)
    }

    /// Queries a refund by the merchant's `out_refund_no`.
    pub async fn query_refund(&self, out_refund_no: &str) -> Result<Refund, Error> {
        let path = format!(
            "/v3/refund/domestic/refunds/{}",
            encode_component(out_refund_no)
        );
        let answer = self.call(Method::GET, &path, None::<&()>).await?;
        parse_json(&answer)
    }

    /// Asks for the day's trade bill: GET `/v3/bill/tradebill?bill_date=…&bill_type=ALL`
    /// (`&tar_type=GZIP` when `gzip`); where to download it, and its SHA1.
    pub async fn trade_bill(&self, bill_date: &str, gzip: bool) -> Result<BillAnswer, Error> {
        let mut path = format!(
            "/v3/bill/tradebill?bill_date={}&bill_type=ALL",
            encode_component(bill_date)
        );
        if gzip {
            path.push_str("&tar_type=GZIP");
        }
        let answer = self.call(Method::GET, &path, None::<&()>).await?;
        parse_json(&answer)
    }

    /// Downloads a bill (a signed GET of its `download_url`); the file is not signed, so it
    /// is trusted only when its SHA1 (of the uncompressed file) is the one the verified
    /// [`BillAnswer`] named. A gzip download is inflated first. A refusal is a signed JSON
    /// answer like any other.
    pub async fn download_bill(&self, bill: &BillAnswer, gzip: bool) -> Result<Vec<u8>, Error> {
        let url = Url::parse(&bill.download_url)
            .map_err(|e| Error::InvalidRequest(format!("download_url: {e}")))?;
        let answer = self.send_to(Method::GET, url, None::<&()>).await?;
        if !answer.status.is_success() {
            self.verify(&answer)?;
            check_status(&answer)?;
        }
        let file = if gzip {
            let mut inflated = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(answer.body.as_slice()),
                &mut inflated,
            )
            .map_err(|e| bad_response(&answer, format!("the bill is not gzip: {e}")))?;
            inflated
        } else {
            answer.body.clone()
        };
        if !bill.hash_type.eq_ignore_ascii_case("SHA1") {
            return Err(bad_response(
                &answer,
                format!("hash_type {:?} is not SHA1", bill.hash_type),
            ));
        }
        let digest = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &file,
        ));
        if !digest.eq_ignore_ascii_case(&bill.hash_value) {
            return Err(bad_response(
                &answer,
                format!(
                    "the bill's SHA1 is {digest}, WeChat named {}: refused",
                    bill.hash_value
                ),
            ));
        }
        Ok(file)
    }

    /// Downloads and decrypts the platform certificates (legacy mode): GET `/v3/certificates`.
    ///
    /// The answer is verified with a key the verifier already knows when it can be. When its
    /// serial is not yet known (the first download), it is verified with the certificate it
    /// carries under that serial. That bootstrap is sound because every certificate must
    /// first decrypt with the APIv3 key, which only WeChat and the merchant know: an attacker
    /// cannot plant a certificate that passes the AEAD check. This is what WeChat's own
    /// certificate downloaders do.
    pub async fn platform_certificates(&self) -> Result<Vec<PlatformCertificate>, Error> {
        let answer = self
            .send(Method::GET, "/v3/certificates", None::<&()>)
            .await?;
        let signature = SignatureHeaders::from_headers(&answer.headers)
            .map_err(|source| untrusted(&answer, source))?;
        let known = self.inner.verifier.knows(&signature.serial);
        if known || !answer.status.is_success() {
            self.verify(&answer)?;
            check_status(&answer)?;
            return self.certificates_of(&answer);
        }
        // Unknown serial on a success: decrypt first (the AEAD check is the trust anchor),
        // then require the answer to be signed by one of the certificates it carries.
        // Unusable certificates mean nothing vouches for this answer at all.
        let certificates = self.certificates_of(&answer).map_err(|_| {
            untrusted(
                &answer,
                VerifyError::UnknownSerial(signature.serial.clone()),
            )
        })?;
        let bootstrap = Verifier::new();
        for certificate in &certificates {
            bootstrap.add_key(&certificate.serial_no, certificate.public_key.clone());
        }
        bootstrap
            .verify(&signature, &answer.body, now_unix())
            .map_err(|source| untrusted(&answer, source))?;
        Ok(certificates)
    }

    /// Downloads the platform certificates and trusts the unexpired ones from now on.
    pub async fn refresh_platform_certificates(&self) -> Result<Vec<PlatformCertificate>, Error> {
        let certificates = self.platform_certificates().await?;
        let now = now_unix();
        for certificate in certificates.iter().filter(|c| !c.is_expired(now)) {
            self.inner
                .verifier
                .add_key(&certificate.serial_no, certificate.public_key.clone());
        }
        Ok(certificates)
    }

    /// Verifies, decrypts and types a callback received now.
    pub fn parse_notification(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Notification, NotifyError> {
        self.read_notification(&SignatureHeaders::from_headers(headers)?, body)
    }

    /// Verifies, decrypts and types a callback whose signature headers are read already.
    /// Its freshness is judged by this machine's wall clock, as WeChat's signing time is.
    pub fn read_notification(
        &self,
        headers: &SignatureHeaders,
        body: &[u8],
    ) -> Result<Notification, NotifyError> {
        crate::notify::parse_notification(
            &self.inner.verifier,
            &self.inner.apiv3_key,
            headers,
            body,
            now_unix(),
        )
    }

    fn certificates_of(&self, answer: &RawAnswer) -> Result<Vec<PlatformCertificate>, Error> {
        let listing: CertificatesResponse = parse_json(answer)?;
        listing
            .data
            .iter()
            .map(|entry| decrypt_certificate(&self.inner.apiv3_key, entry))
            .collect::<Result<_, _>>()
            .map_err(|e| bad_response(answer, e.to_string()))
    }

    /// Sends a request and returns its verified, successful answer.
    async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<RawAnswer, Error> {
        let answer = self.send(method, path_and_query, body).await?;
        self.verify(&answer)?;
        check_status(&answer)?;
        Ok(answer)
    }

    /// Signs and sends one request; the answer is not yet verified.
    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&B>,
    ) -> Result<RawAnswer, Error> {
        let url = Url::parse(&format!("{}{path_and_query}", self.inner.base_url))
            .map_err(|e| Error::InvalidRequest(format!("URL {path_and_query:?}: {e}")))?;
        self.send_to(method, url, body).await
    }

    /// Signs and sends one request to `url`; the answer is not yet verified.
    async fn send_to<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<RawAnswer, Error> {
        let inner = &self.inner;
        let canonical = canonical_url(&url);
        // Serialised once: the signature covers exactly these bytes, and they are what is sent.
        let body = match body {
            Some(body) => {
                serde_json::to_vec(body).map_err(|e| Error::InvalidRequest(format!("body: {e}")))?
            }
            None => Vec::new(),
        };
        let authorization = inner
            .signer
            .authorization(method.as_str(), &canonical, &body);
        let authorization = HeaderValue::from_str(&authorization)
            .map_err(|_| Error::InvalidRequest("Authorization is not a header value".into()))?;
        let mut request = inner
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, inner.user_agent.clone());
        if let Some(serial) = &inner.wechatpay_serial {
            request = request.header(header::SERIAL, serial.clone());
        }
        if !body.is_empty() {
            request = request.body(body);
        }
        tracing::debug!(%method, url = %canonical, "wechatpay request");
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let request_id = headers
            .get(header::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.map_err(transport_error)?.to_vec();
        tracing::debug!(%method, url = %canonical, %status, request_id = ?request_id, "wechatpay answer");
        Ok(RawAnswer {
            status,
            headers,
            body,
            request_id,
        })
    }

    /// Checks the answer's signature with the known keys: error answers included, so a
    /// forged refusal cannot make the caller give up on a real order.
    fn verify(&self, answer: &RawAnswer) -> Result<(), Error> {
        SignatureHeaders::from_headers(&answer.headers)
            .and_then(|signature| {
                self.inner
                    .verifier
                    .verify(&signature, &answer.body, now_unix())
            })
            .map_err(|source| untrusted(answer, source))
    }
}

/// Turns a verified answer's status into success or the matching [`Error`].
fn check_status(answer: &RawAnswer) -> Result<(), Error> {
    let status = answer.status;
    if status.is_success() {
        return Ok(());
    }
    let request_id = answer.request_id.clone();
    let error_body = serde_json::from_slice::<ErrorBody>(&answer.body).ok();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let (code, message) = match error_body {
            Some(e) => (e.code, e.message),
            None => ("FREQUENCY_LIMITED".to_owned(), body_excerpt(&answer.body)),
        };
        return Err(Error::RateLimited {
            code,
            message,
            request_id,
        });
    }
    if status.is_client_error() {
        // A refusal must be WeChat's own words: anything else is not a definite "no".
        let Some(e) = error_body else {
            return Err(bad_response(
                answer,
                format!(
                    "a {status} without an error body: {}",
                    body_excerpt(&answer.body)
                ),
            ));
        };
        return Err(Error::Refused {
            status: status.as_u16(),
            code: e.code,
            message: e.message,
            detail: e.detail,
            request_id,
        });
    }
    if status.is_server_error() {
        let (code, message) = match error_body {
            Some(e) => (e.code, e.message),
            None => (String::new(), body_excerpt(&answer.body)),
        };
        return Err(Error::ServerError {
            status: status.as_u16(),
            code,
            message,
            request_id,
        });
    }
    Err(bad_response(answer, format!("unexpected status {status}")))
}

fn parse_json<T: DeserializeOwned>(answer: &RawAnswer) -> Result<T, Error> {
    serde_json::from_slice(&answer.body)
        .map_err(|e| bad_response(answer, format!("the body does not parse: {e}")))
}

fn untrusted(answer: &RawAnswer, source: VerifyError) -> Error {
    Error::UntrustedResponse {
        status: answer.status.as_u16(),
        source,
        request_id: answer.request_id.clone(),
    }
}

fn bad_response(answer: &RawAnswer, reason: String) -> Error {
    Error::BadResponse {
        status: answer.status.as_u16(),
        reason,
        request_id: answer.request_id.clone(),
    }
}

fn transport_error(error: reqwest::Error) -> Error {
    if error.is_timeout() {
        return Error::Timeout;
    }
    // reqwest's own message is terse; the cause chain says what actually broke.
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    Error::Transport(text)
}

/// The first 200 characters of a body, for an error message.
fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PrivateKey;

    fn answer(status: u16, body: &str) -> RawAnswer {
        RawAnswer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            request_id: Some("0A1B2C3D-1234".to_owned()),
        }
    }

    #[test]
    fn four_hundreds_are_refusals_with_wechats_code() {
        for (status, code) in [
            (400, "PARAM_ERROR"),
            (401, "SIGN_ERROR"),
            (403, "OUT_TRADE_NO_USED"),
            (404, "ORDER_NOT_EXIST"),
            (404, "ORDERNOTEXIST"),
        ] {
            let body = format!(r#"{{"code":"{code}","message":"no","detail":{{"field":"x"}}}}"#);
            let error = check_status(&answer(status, &body)).unwrap_err();
            assert!(matches!(error, Error::Refused { .. }), "{error:?}");
            assert!(!error.outcome_unknown());
            assert_eq!(error.code(), Some(code));
            assert_eq!(error.request_id(), Some("0A1B2C3D-1234"));
            assert_eq!(error.is_order_not_exist(), status == 404);
        }
    }

    #[test]
    fn rate_limits_and_server_errors_leave_the_outcome_unknown() {
        let limited = check_status(&answer(
            429,
            r#"{"code":"FREQUENCY_LIMITED","message":"slow"}"#,
        ))
        .unwrap_err();
        assert!(matches!(limited, Error::RateLimited { .. }));
        assert!(limited.outcome_unknown());
        for status in [500, 502, 503, 504] {
            let error = check_status(&answer(status, r#"{"code":"SYSTEM_ERROR","message":"x"}"#))
                .unwrap_err();
            assert!(matches!(error, Error::ServerError { .. }));
            assert!(error.outcome_unknown());
        }
        // A gateway's HTML 502 is still a server error, with no WeChat code.
        let error = check_status(&answer(502, "<html>Bad Gateway</html>")).unwrap_err();
        assert_eq!(error.code(), None);
        assert!(error.outcome_unknown());
    }

    #[test]
    fn a_four_hundred_without_wechats_error_body_is_not_a_refusal() {
        let error = check_status(&answer(404, "not found")).unwrap_err();
        assert!(matches!(error, Error::BadResponse { status: 404, .. }));
        assert!(error.outcome_unknown());
        let error = check_status(&answer(302, "")).unwrap_err();
        assert!(error.outcome_unknown());
        assert!(check_status(&answer(204, "")).is_ok());
        assert!(check_status(&answer(200, "{}")).is_ok());
    }

    #[test]
    fn a_malformed_success_body_is_a_bad_response() {
        let result: Result<NativePrepayResponse, Error> = parse_json(&answer(200, "{\"x\":1}"));
        assert!(matches!(result, Err(Error::BadResponse { .. })));
    }

    fn config(base_url: &str) -> ClientConfig {
        let signer = MerchantSigner::new("1900007291", "408B07E7", PrivateKey::generate());
        let key = ApiV3Key::new("0123456789abcdef0123456789abcdef").unwrap();
        let mut config = ClientConfig::new(signer, Arc::new(Verifier::new()), key);
        config.base_url = base_url.to_owned();
        config
    }

    #[test]
    fn only_plain_http_base_urls_are_accepted() {
        for bad in ["ftp://x", "not a url", "https://x/?a=1", "https://x/#f"] {
            assert!(
                matches!(Client::new(config(bad)), Err(ClientBuildError::BaseUrl(_))),
                "{bad}"
            );
        }
        let client = Client::new(config("http://127.0.0.1:1/prefix/")).unwrap();
        assert_eq!(client.inner.base_url, "http://127.0.0.1:1/prefix");
        assert_eq!(client.mchid(), "1900007291");
        let mut bad_agent = config(DEFAULT_BASE_URL);
        bad_agent.user_agent = "a\nb".to_owned();
        assert!(matches!(
            Client::new(bad_agent),
            Err(ClientBuildError::HeaderValue("user_agent"))
        ));
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let client = Client::new(config(DEFAULT_BASE_URL)).unwrap();
        let text = format!("{client:?}");
        assert!(text.contains("<redacted>"));
        assert!(!text.contains("0123456789abcdef"));
    }
}
