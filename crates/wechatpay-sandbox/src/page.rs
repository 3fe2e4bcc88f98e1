//! The HTML page behind a code_url (`/sandbox/scan?pr=…`): the order and a "Pay" button.

use crate::state::{Order, state_desc};

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// Fen as yuan with two decimals (integer arithmetic: money is never a float).
pub fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let fen = fen.unsigned_abs();
    format!("{sign}{}.{:02}", fen / 100, fen % 100)
}

/// The scan page's script: fixed text (the order's token is read from `data-pr`), so the
/// page's CSP can allow exactly it by hash and nothing else.
const SCAN_SCRIPT: &str = r#"
document.getElementById('pay').addEventListener('click', async () => {
  const button = document.getElementById('pay');
  button.disabled = true;
  const response = await fetch('/sandbox/pay', {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({pr: button.dataset.pr})
  });
  const answer = await response.json();
  document.getElementById('result').textContent = response.ok
    ? '支付成功 (paid): ' + answer.transaction_id
    : answer.code + ': ' + answer.message;
});
"#;

const SCAN_STYLE: &str = "body{font-family:sans-serif;max-width:28em;margin:2em auto}\
button{font-size:1.2em;padding:.5em 2em;background:#07c160;color:#fff;border:0;border-radius:4px}";

/// A Content-Security-Policy that lets a page run exactly `script` and apply exactly
/// `style` (inline, allowed by their SHA-256), and load or send nothing but to its origin.
pub fn inline_csp(script: &str, style: &str) -> String {
    use base64::Engine as _;
    let hash = |text: &str| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    };
    format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
         connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'none'",
        hash(script),
        hash(style)
    )
}

/// The CSP of the scan pages.
pub fn scan_page_csp() -> &'static str {
    static CSP: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| inline_csp(SCAN_SCRIPT, SCAN_STYLE));
    &CSP
}

/// The scan page of one order.
pub fn scan_page(order: &Order) -> String {
    let request = &order.request;
    let payable = order.state == wechatpay::model::TradeState::Notpay;
    let button = if payable {
        format!(
            r#"<button id="pay" data-pr="{token}">Pay ¥{amount}</button>
<script>{SCAN_SCRIPT}</script>"#,
            token = escape(&order.token),
            amount = yuan(request.amount.total)
        )
    } else {
        String::new()
    };
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WeChat Pay sandbox</title>
<style>{SCAN_STYLE}</style>
</head><body>
<h1>WeChat Pay sandbox</h1>
<p class="description">{description}</p>
<p class="amount">¥{amount}</p>
<dl>
<dt>Merchant</dt><dd>{mchid}</dd>
<dt>Order</dt><dd>{out_trade_no}</dd>
<dt>State</dt><dd>{state:?} ({state_desc})</dd>
</dl>
{button}
<p id="result"></p>
</body></html>
"#,
        description = escape(&request.description),
        amount = yuan(request.amount.total),
        mchid = escape(&request.mchid),
        out_trade_no = escape(&request.out_trade_no),
        state = order.state,
        state_desc = state_desc(order.state),
    )
}

/// The page for an unknown or malformed code_url.
pub fn not_found_page() -> String {
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>WeChat Pay sandbox</title></head>\
     <body><h1>二维码已失效</h1><p>No order for this code_url.</p></body></html>"
        .to_owned()
}
