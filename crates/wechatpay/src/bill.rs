//! The trade bill (交易账单): `GET /v3/bill/tradebill` answers where to download the day's
//! bill and its SHA1; the file itself is not signed, so its hash is the only proof it is
//! WeChat's. The file is CSV in WeChat's own way: a header row, one row per payment and per
//! refund with every field prefixed by a backtick (so spreadsheets keep long numbers), then
//! a summary header and one summary row. Amounts are yuan with two decimals.

use serde::{Deserialize, Serialize};

/// The answer of `GET /v3/bill/tradebill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillAnswer {
    /// `SHA1`.
    pub hash_type: String,
    /// The SHA1 of the bill file (uncompressed), lowercase hex.
    pub hash_value: String,
    /// Where to download it (a signed GET, valid for a few minutes).
    pub download_url: String,
}

/// One row of the bill: a payment (`trade_state` SUCCESS) or a refund (REFUND, with the
/// refund's fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    /// `交易时间`, as written (Beijing time, `yyyy-MM-dd HH:mm:ss`).
    pub trade_time: String,
    /// `公众账号ID`.
    pub appid: String,
    /// `商户号`.
    pub mchid: String,
    /// `微信订单号`.
    pub transaction_id: String,
    /// `商户订单号`.
    pub out_trade_no: String,
    /// `用户标识`.
    pub openid: String,
    /// `交易类型`, e.g. `NATIVE`.
    pub trade_type: String,
    /// `SUCCESS` for a payment row, `REFUND` for a refund row (also `REVOKED`).
    pub trade_state: String,
    /// `货币种类`, `CNY`.
    pub currency: String,
    /// `应结订单金额`, in fen.
    pub settlement_total: i64,
    /// `微信退款单号` (`0` or empty on a payment row).
    pub refund_id: String,
    /// `商户退款单号` (`0` or empty on a payment row).
    pub out_refund_no: String,
    /// `退款金额`, in fen.
    pub refund: i64,
    /// `退款状态`, e.g. `SUCCESS`, `PROCESSING` (a snapshot: it is not updated later).
    pub refund_status: String,
    /// `订单金额`, in fen.
    pub order_total: i64,
    /// `申请退款金额`, in fen.
    pub requested_refund: i64,
    /// The row as it appeared in the file, kept with what it causes.
    pub raw: String,
}

impl BillRow {
    /// Whether the row is a refund's (else a payment's).
    pub fn is_refund(&self) -> bool {
        self.trade_state == "REFUND"
    }
}

/// The bill's summary row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillSummary {
    /// `总交易单数`.
    pub count: u64,
    /// `应结订单总金额`, in fen.
    pub settlement_total: i64,
    /// `退款总金额`, in fen.
    pub refund_total: i64,
    /// `订单总金额`, in fen.
    pub order_total: i64,
    /// `申请退款总金额`, in fen.
    pub requested_refund_total: i64,
}

impl BillSummary {
    /// What `rows` add up to: the order totals are the payments' (a refund row may repeat
    /// its order's amounts), the refund totals the refunds'.
    pub fn of(rows: &[BillRow]) -> Self {
        let payments = || rows.iter().filter(|r| !r.is_refund());
        let refunds = || rows.iter().filter(|r| r.is_refund());
        Self {
            count: rows.len() as u64,
            settlement_total: payments().map(|r| r.settlement_total).sum(),
            refund_total: refunds().map(|r| r.refund).sum(),
            order_total: payments().map(|r| r.order_total).sum(),
            requested_refund_total: refunds().map(|r| r.requested_refund).sum(),
        }
    }
}

/// A parsed trade bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeBill {
    /// The detail rows, in the file's order.
    pub rows: Vec<BillRow>,
    /// The summary row.
    pub summary: BillSummary,
}

/// Why a bill file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    /// Not UTF-8 text.
    #[error("the bill is not UTF-8")]
    NotText,
    /// A part (or a column) of the layout is missing.
    #[error("the bill has no {0}")]
    Missing(&'static str),
    /// A line breaks the layout.
    #[error("bill line {line}: {why}")]
    Line {
        /// From 1.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// The summary row does not match the rows.
    #[error("the bill's summary does not add up: {0}")]
    Summary(String),
}

/// The columns of a detail row that the parser reads, by their header names (WeChat says
/// to read columns by the header's names, whose order may change).
const DETAIL: [&str; 16] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "货币种类",
    "应结订单金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "退款状态",
    "订单金额",
    "申请退款金额",
];
const SUMMARY: [&str; 5] = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "订单总金额",
    "申请退款总金额",
];

/// The fields of a data line: each starts with a backtick, so a field ends where `,`` `
/// starts the next (a comma inside a product name does not split it).
fn fields(line: &str) -> Option<Vec<&str>> {
    let rest = line.strip_prefix('`')?;
    Some(rest.split(",`").collect())
}

/// Yuan with at most two decimals (`12.30`, `0.01`, `-1.00`) as fen, exactly.
pub fn yuan_to_fen(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, cents) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || cents.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !cents.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = format!("{cents:0<2}");
    let fen = whole.parse::<i64>().ok()?.checked_mul(100)? + cents.parse::<i64>().ok()?;
    Some(if negative { -fen } else { fen })
}

/// Fen as WeChat writes yuan (`9.90`).
pub fn fen_to_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
}

impl TradeBill {
    /// Parses a bill file, checking that the summary matches its rows.
    pub fn parse(file: &[u8]) -> Result<Self, BillError> {
        let text = std::str::from_utf8(file).map_err(|_| BillError::NotText)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines.next().ok_or(BillError::Missing("header"))?;
        let header: Vec<&str> = header.split(',').map(str::trim).collect();
        let at = |names: &[&'static str], header: &[&str]| -> Result<Vec<usize>, BillError> {
            names
                .iter()
                .map(|name| {
                    header
                        .iter()
                        .position(|h| h == name)
                        .ok_or(BillError::Missing(name))
                })
                .collect()
        };
        let columns = at(&DETAIL, &header)?;
        let mut rows = Vec::new();
        let mut summary = None;
        while let Some((n, line)) = lines.next() {
            let line_no = n + 1;
            let bad = |why: String| BillError::Line { line: line_no, why };
            if line.starts_with(SUMMARY[0]) {
                let names: Vec<&str> = line.split(',').map(str::trim).collect();
                let columns = at(&SUMMARY, &names)?;
                let (n, values) = lines.next().ok_or(BillError::Missing("summary row"))?;
                let values = fields(values).ok_or(BillError::Line {
                    line: n + 1,
                    why: "a summary field without its backtick".into(),
                })?;
                let get = |i: usize| -> Result<&str, BillError> {
                    values.get(columns[i]).copied().ok_or(BillError::Line {
                        line: n + 1,
                        why: format!("no {}", SUMMARY[i]),
                    })
                };
                let money = |i: usize| -> Result<i64, BillError> {
                    let text = get(i)?;
                    yuan_to_fen(text).ok_or(BillError::Line {
                        line: n + 1,
                        why: format!("{} {text:?} is not an amount", SUMMARY[i]),
                    })
                };
                summary = Some(BillSummary {
                    count: get(0)?.parse().map_err(|_| BillError::Line {
                        line: n + 1,
                        why: "总交易单数 is not a count".into(),
                    })?,
                    settlement_total: money(1)?,
                    refund_total: money(2)?,
                    order_total: money(3)?,
                    requested_refund_total: money(4)?,
                });
                if let Some((n, _)) = lines.next() {
                    return Err(BillError::Line {
                        line: n + 1,
                        why: "text after the summary".into(),
                    });
                }
                break;
            }
            let values = fields(line).ok_or_else(|| bad("a field without its backtick".into()))?;
            if values.len() != header.len() {
                return Err(bad(format!(
                    "{} fields, the header has {}",
                    values.len(),
                    header.len()
                )));
            }
            let get = |i: usize| values[columns[i]].to_owned();
            let money = |i: usize| -> Result<i64, BillError> {
                let text = values[columns[i]];
                yuan_to_fen(text)
                    .ok_or_else(|| bad(format!("{} {text:?} is not an amount", DETAIL[i])))
            };
            rows.push(BillRow {
                trade_time: get(0),
                appid: get(1),
                mchid: get(2),
                transaction_id: get(3),
                out_trade_no: get(4),
                openid: get(5),
                trade_type: get(6),
                trade_state: get(7),
                currency: get(8),
                settlement_total: money(9)?,
                refund_id: get(10),
                out_refund_no: get(11),
                refund: money(12)?,
                refund_status: get(13),
                order_total: money(14)?,
                requested_refund: money(15)?,
                raw: line.to_owned(),
            });
        }
        let summary = summary.ok_or(BillError::Missing("summary"))?;
        let found = BillSummary::of(&rows);
        if found != summary {
            return Err(BillError::Summary(format!(
                "the rows make {found:?}, the summary says {summary:?}"
            )));
        }
        Ok(Self { rows, summary })
    }

    /// Writes a bill in WeChat's layout (what the sandbox serves).
    pub fn write(&self) -> String {
        let mut out = String::from(
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n",
        );
        for r in &self.rows {
            let refund_type = if r.out_refund_no.is_empty() {
                ""
            } else {
                "ORIGINAL"
            };
            let fields = [
                r.trade_time.as_str(),
                &r.appid,
                &r.mchid,
                "0",
                "",
                &r.transaction_id,
                &r.out_trade_no,
                &r.openid,
                &r.trade_type,
                &r.trade_state,
                "OTHERS",
                &r.currency,
                &fen_to_yuan(r.settlement_total),
                "0.00",
                &r.refund_id,
                &r.out_refund_no,
                &fen_to_yuan(r.refund),
                "0.00",
                refund_type,
                &r.refund_status,
                "chatmall",
                "",
                "0.00000",
                "0.60%",
                &fen_to_yuan(r.order_total),
                &fen_to_yuan(r.requested_refund),
                "",
            ];
            out.push('`');
            out.push_str(&fields.join(",`"));
            out.push_str("\r\n");
        }
        let s = &self.summary;
        out.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
        out.push_str(&format!(
            "`{},`{},`{},`0.00,`0.00000,`{},`{}\r\n",
            s.count,
            fen_to_yuan(s.settlement_total),
            fen_to_yuan(s.refund_total),
            fen_to_yuan(s.order_total),
            fen_to_yuan(s.requested_refund_total)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bill in WeChat's published layout: one payment, one refund of it, the summary.
    const SAMPLE: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n\
`2024-06-11 10:12:09,`wxd678efh567hg6787,`1230000109,`0,`,`4200001234202406111234567890,`20240611101200000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`9.90,`0.00,`0,`0,`0.00,`0.00,`,`,`标准包, 100 次,`,`0.06000,`0.60%,`9.90,`0.00,`\r\n\
`2024-06-11 15:40:01,`wxd678efh567hg6787,`1230000109,`0,`,`4200001234202406111234567890,`20240611101200000001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001234202406110000000001,`20240611101200000001R01,`4.95,`0.00,`ORIGINAL,`SUCCESS,`标准包, 100 次,`,`-0.03000,`0.60%,`0.00,`4.95,`\r\n\
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n\
`2,`9.90,`4.95,`0.00,`0.03000,`9.90,`4.95\r\n";

    #[test]
    fn a_bill_in_wechats_layout_parses_exactly() {
        let bill = TradeBill::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(bill.rows.len(), 2);
        let (paid, refunded) = (&bill.rows[0], &bill.rows[1]);
        assert_eq!(paid.out_trade_no, "20240611101200000001");
        assert_eq!(paid.transaction_id, "4200001234202406111234567890");
        assert_eq!(
            (
                paid.trade_state.as_str(),
                paid.order_total,
                paid.settlement_total
            ),
            ("SUCCESS", 990, 990)
        );
        assert_eq!(refunded.trade_state, "REFUND");
        assert_eq!(
            (
                refunded.out_refund_no.as_str(),
                refunded.refund,
                refunded.refund_status.as_str()
            ),
            ("20240611101200000001R01", 495, "SUCCESS")
        );
        assert_eq!(
            bill.summary,
            BillSummary {
                count: 2,
                settlement_total: 990,
                refund_total: 495,
                order_total: 990,
                requested_refund_total: 495
            }
        );
        // What the sandbox writes reads back the same.
        assert_eq!(
            TradeBill::parse(bill.write().as_bytes())
                .unwrap()
                .rows
                .len(),
            2
        );
        let again = TradeBill::parse(bill.write().as_bytes()).unwrap();
        assert_eq!(
            (again.summary, &again.rows[1].out_refund_no),
            (bill.summary, &refunded.out_refund_no)
        );
    }

    #[test]
    fn a_bill_that_does_not_add_up_or_breaks_the_layout_is_refused() {
        let changed = SAMPLE.replacen("`9.90,`0.00,`0,`0", "`9.91,`0.00,`0,`0", 1);
        assert!(matches!(
            TradeBill::parse(changed.as_bytes()),
            Err(BillError::Summary(_))
        ));
        let no_summary: String = SAMPLE.lines().take(3).collect::<Vec<_>>().join("\n");
        assert_eq!(
            TradeBill::parse(no_summary.as_bytes()),
            Err(BillError::Missing("summary"))
        );
        let short = SAMPLE.replacen(",`0.60%,`9.90,`0.00,`\r\n", ",`0.60%,`9.90\r\n", 1);
        assert!(matches!(
            TradeBill::parse(short.as_bytes()),
            Err(BillError::Line { line: 2, .. })
        ));
        let bad_amount = SAMPLE.replacen("`9.90,`0.00,`0,`0", "`9.9x,`0.00,`0,`0", 1);
        assert!(matches!(
            TradeBill::parse(bad_amount.as_bytes()),
            Err(BillError::Line { line: 2, .. })
        ));
        assert_eq!(TradeBill::parse(b"\xff"), Err(BillError::NotText));
        let renamed = SAMPLE.replacen("商户订单号", "订单号", 1);
        assert_eq!(
            TradeBill::parse(renamed.as_bytes()),
            Err(BillError::Missing("商户订单号"))
        );
    }

    #[test]
    fn yuan_reads_as_fen_exactly() {
        for (text, fen) in [
            ("0.01", 1),
            ("9.90", 990),
            ("9.9", 990),
            ("12", 1200),
            ("-1.05", -105),
            ("0.00", 0),
        ] {
            assert_eq!(yuan_to_fen(text), Some(fen), "{text}");
            assert_eq!(yuan_to_fen(&fen_to_yuan(fen)), Some(fen));
        }
        for bad in ["", ".5", "1.005", "1,00", "1e2", "--1", "1.-5"] {
            assert_eq!(yuan_to_fen(bad), None, "{bad}");
        }
        assert_eq!(fen_to_yuan(990), "9.90");
        assert_eq!(fen_to_yuan(-3), "-0.03");
    }
}
