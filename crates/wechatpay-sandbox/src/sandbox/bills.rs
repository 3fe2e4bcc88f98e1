//! Trade bills (交易账单): the day's payments (by success time) and refunds (by creation
//! time), Beijing time, written in WeChat's layout from the sandbox's own order book, and
//! kept under a download token. The faults can leave out a row, change an amount, or name
//! a wrong hash.

use super::*;
use wechatpay::bill::{BillAnswer, BillRow, BillSummary, TradeBill};

impl Sandbox {
    /// Makes the bill of `date` (`yyyy-MM-dd`), gzipped when asked; where to download it
    /// under `base` (this server's address as the caller reached it), and its SHA1.
    pub(crate) fn trade_bill(&self, date: chrono::NaiveDate, gzip: bool, base: &str) -> BillAnswer {
        let faults = self.faults();
        let file = self.bill_file(date, &faults).write().into_bytes();
        let mut hash_value = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &file,
        ));
        if faults.bill_corrupt_hash {
            hash_value = hash_value.chars().rev().collect();
        }
        let body = if gzip {
            use std::io::Write as _;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&file).expect("writing to memory");
            encoder.finish().expect("writing to memory")
        } else {
            file
        };
        let token = self.random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 32);
        lock(&self.inner.bills).insert(token.clone(), body);
        let tartype = if gzip { "&tartype=gzip" } else { "" };
        BillAnswer {
            hash_type: "SHA1".to_owned(),
            hash_value,
            download_url: format!("{base}/v3/billdownload/file?token={token}{tartype}"),
        }
    }

    /// A bill file made earlier, by its token.
    pub(crate) fn bill_download(&self, token: &str) -> Option<Vec<u8>> {
        lock(&self.inner.bills).get(token).cloned()
    }

    fn bill_file(&self, date: chrono::NaiveDate, faults: &Faults) -> TradeBill {
        let store = lock(&self.inner.store);
        let on_day = |rfc3339: &str| {
            chrono::DateTime::parse_from_rfc3339(rfc3339)
                .ok()
                .map(|t| t.with_timezone(&crate::state::cst()))
                .filter(|t| t.date_naive() == date)
        };
        let written =
            |t: chrono::DateTime<chrono::FixedOffset>| t.format("%Y-%m-%d %H:%M:%S").to_string();
        let mut rows = Vec::new();
        for no in &store.order_list {
            let order = &store.orders[no];
            let Some(paid_at) = order.success_time.as_deref().and_then(on_day) else {
                continue;
            };
            if faults.bill_leave_out.as_deref() == Some(no.as_str()) {
                continue;
            }
            let mut total = order.request.amount.total;
            if faults.bill_change_amount.as_deref() == Some(no.as_str()) {
                total += 1;
            }
            rows.push(BillRow {
                trade_time: written(paid_at),
                appid: order.request.appid.clone(),
                mchid: order.request.mchid.clone(),
                transaction_id: order.transaction_id.clone().unwrap_or_default(),
                out_trade_no: no.clone(),
                openid: order.openid.clone().unwrap_or_default(),
                trade_type: "NATIVE".to_owned(),
                trade_state: "SUCCESS".to_owned(),
                currency: "CNY".to_owned(),
                settlement_total: total,
                refund_id: "0".to_owned(),
                out_refund_no: "0".to_owned(),
                refund: 0,
                refund_status: String::new(),
                order_total: total,
                requested_refund: 0,
                raw: String::new(),
            });
        }
        let mut refunds: Vec<_> = store.refunds.values().collect();
        refunds.sort_by(|a, b| a.refund.create_time.cmp(&b.refund.create_time));
        for stored in refunds {
            let refund = &stored.refund;
            let Some(created) = on_day(&refund.create_time) else {
                continue;
            };
            let Some(order) = store.orders.get(&refund.out_trade_no) else {
                continue;
            };
            rows.push(BillRow {
                trade_time: written(created),
                appid: order.request.appid.clone(),
                mchid: order.request.mchid.clone(),
                transaction_id: refund.transaction_id.clone(),
                out_trade_no: refund.out_trade_no.clone(),
                openid: order.openid.clone().unwrap_or_default(),
                trade_type: "NATIVE".to_owned(),
                trade_state: "REFUND".to_owned(),
                currency: "CNY".to_owned(),
                settlement_total: 0,
                refund_id: refund.refund_id.clone(),
                out_refund_no: refund.out_refund_no.clone(),
                refund: refund.amount.refund,
                refund_status: serde_json::to_value(refund.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                order_total: 0,
                requested_refund: refund.amount.refund,
                raw: String::new(),
            });
        }
        let summary = BillSummary::of(&rows);
        TradeBill { rows, summary }
    }
}
