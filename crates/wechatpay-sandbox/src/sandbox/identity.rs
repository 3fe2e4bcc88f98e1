//! Who the sandbox is: its keys, serials and certificates, and how it signs.

use super::*;

impl Sandbox {
    /// The key set.
    pub fn keys(&self) -> &KeySet {
        &self.inner.keys
    }

    /// The signature mode.
    pub fn mode(&self) -> SignatureMode {
        self.inner.mode
    }

    /// The `Wechatpay-Serial` answers carry in the current mode (in `Both`, the public
    /// key's, as for a request that names it).
    pub fn serial(&self) -> &str {
        self.serial_for(Some(&self.inner.keys.public_key_id))
    }

    /// The serial that signs the answer to a request that sent `requested` as its
    /// `Wechatpay-Serial` header.
    pub fn serial_for(&self, requested: Option<&str>) -> &str {
        let public_key = &self.inner.keys.public_key_id;
        let certificate = &self.inner.certificate.serial_no;
        match self.inner.mode {
            SignatureMode::PublicKey => public_key,
            SignatureMode::PlatformCertificate => certificate,
            SignatureMode::Both if requested.is_some_and(|r| r.starts_with("PUB_KEY_ID_")) => {
                public_key
            }
            SignatureMode::Both => certificate,
        }
    }

    /// The serial that signs the next notification: in `Both` mode the two take turns.
    pub(crate) fn notification_serial(&self) -> &str {
        match self.inner.mode {
            SignatureMode::Both
                if self
                    .inner
                    .notifications_signed
                    .fetch_add(1, Ordering::Relaxed)
                    % 2
                    == 1 =>
            {
                &self.inner.certificate.serial_no
            }
            _ => self.serial(),
        }
    }

    /// The platform certificate (served by `/v3/certificates`).
    pub fn platform_certificate(&self) -> &PlatformCertificate {
        &self.inner.certificate
    }

    /// The WeChat Pay public key (`pub_key.pem`).
    pub fn wechatpay_public_key(&self) -> PublicKey {
        self.inner.keys.wechatpay_public_key()
    }

    /// The merchant public key requests are verified with.
    pub fn merchant_public_key(&self) -> &PublicKey {
        &self.inner.merchant_public
    }

    /// The APIv3 key as an AES key.
    pub fn apiv3_key(&self) -> &ApiV3Key {
        &self.inner.apiv3
    }

    /// A verifier trusting both the public key id and the certificate serial.
    pub fn verifier(&self) -> Verifier {
        let verifier =
            Verifier::with_public_key(&self.inner.keys.public_key_id, self.wechatpay_public_key());
        verifier.add_key(
            &self.inner.certificate.serial_no,
            self.wechatpay_public_key(),
        );
        verifier
    }

    /// A request signer for the sandbox's merchant.
    pub fn merchant_signer(&self) -> MerchantSigner {
        let keys = &self.inner.keys;
        MerchantSigner::new(
            &keys.mchid,
            &keys.merchant_serial_no,
            clone_key(&keys.merchant_key),
        )
    }

    /// Signature headers (`Wechatpay-*`, `Request-ID`) for `body` at `timestamp`: for tests
    /// that craft expired or forged messages.
    pub fn sign(&self, body: &[u8], timestamp: i64) -> Vec<(String, String)> {
        signature_headers(self, self.serial(), body, timestamp, false)
    }

    /// A signed `TRANSACTION.SUCCESS` notification for `transaction`, as it would be sent now:
    /// (headers, body). Nothing is sent.
    pub fn build_notification(&self, transaction: &Transaction) -> (Vec<(String, String)>, String) {
        let plaintext = serde_json::to_vec(transaction).expect("a transaction serialises");
        let (_, body) = notifier::build(
            self,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            &plaintext,
        );
        let headers = notifier::headers_for(self, &body, Utc::now().timestamp());
        (headers, body)
    }
}
