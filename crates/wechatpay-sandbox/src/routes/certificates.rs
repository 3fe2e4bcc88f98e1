//! GET `/v3/certificates`: the legacy platform certificate, encrypted with the APIv3 key.

use crate::respond::json;
use crate::sandbox::Sandbox;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use wechatpay::model::{CertificatesResponse, EncryptedResource, PlatformCertificateEntry};

/// Lists the one platform certificate (served in both modes, as during a migration).
pub async fn list(State(sandbox): State<Sandbox>) -> Response {
    let certificate = sandbox.platform_certificate();
    let nonce: String = wechatpay::nonce::generate().chars().take(12).collect();
    let ciphertext = sandbox
        .apiv3_key()
        .encrypt(&nonce, "certificate", certificate.pem.as_bytes())
        .expect("a 12-char nonce is a valid AES-GCM nonce");
    let body = CertificatesResponse {
        data: vec![PlatformCertificateEntry {
            serial_no: certificate.serial_no.clone(),
            effective_time: certificate.effective_time.clone(),
            expire_time: certificate.expire_time.clone(),
            encrypt_certificate: EncryptedResource {
                algorithm: "AEAD_AES_256_GCM".to_owned(),
                ciphertext,
                associated_data: "certificate".to_owned(),
                nonce,
                original_type: None,
            },
        }],
    };
    json(StatusCode::OK, &body)
}
