//! Limits on wrong look-up codes (giới hạn số lần nhập sai mã tra cứu). Tracking a dossier or
//! a PAKN (phản ánh, kiến nghị) without signing in takes its code and a short look-up code;
//! without a limit, anyone could guess look-up codes. Every *wrong* code (or unknown code: the
//! same answer) spends one try of the client address's budget and one of the looked-up item's
//! (token buckets of [`tinhso_http::ratelimit`]): by default 10 per item and 30 per address
//! within 15 minutes ([`LookupBudgets`]), refilled evenly. Dossiers and PAKN have
//! budgets of their own per item ([`Item`]); an address has one budget for both. The try that
//! finds a budget empty blocks that address or item until one try has been refilled; while
//! blocked, every look-up of it answers 429 with `Retry-After` *before* the code is checked
//! (else a right guess would still get through). A right code spends nothing and waits for
//! nothing, so an applicant checking their own dossier is never slowed; only an item under
//! attack keeps its owner out for at most one refill interval at a time (window / tries: 90 s
//! by default), and the
//! signed-in owner is not affected (their session proves them, no look-up code is checked).
//!
//! Every anonymous use of a look-up code goes through here: tracking a dossier ([`track`]:
//! API, pages, withdrawal, rating, payment, results), tracking a PAKN ([`track_feedback`]:
//! API and page) and sending a PAKN about a dossier ([`send_feedback`]: its dossier's look-up
//! code is checked too).
//!
//! The budgets are settings: `[services] lookup_wrong_tries_per_item`,
//! `lookup_wrong_tries_per_address` and `lookup_window_secs` (or `TINHSO_SERVICES_LOOKUP_*`),
//! read at start-up into [`WebConfig::lookup_budgets`]. The state lives per server ([`limits`]:
//! one set per [`AppState`]), in memory: a restart forgets it, and several nodes each keep
//! their own.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};
use tinhso_http::ratelimit::{LookupBudgets, RateLimiter};
use tinhso_http::{AppState, ReqCtx, WebConfig};
use tinhso_kernel::{AppError, ErrorCode};

use crate::dossier::{self, Dossier};
use crate::feedback::{self, Feedback, NewFeedback, Sent};
use std::future::Future;

/// What a look-up code opens; each kind keeps its own budget per item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Dossier,
    /// A PAKN (phản ánh, kiến nghị).
    Feedback,
}

impl Item {
    fn prefix(self) -> &'static str {
        match self {
            Item::Dossier => "d",
            Item::Feedback => "f",
        }
    }
}

/// The budgets of one server.
pub struct LookupLimits {
    per_dossier: RateLimiter,
    per_ip: RateLimiter,
    dossier_refill: Duration,
    ip_refill: Duration,
    /// Keys (`d:<dossier>`, `f:<PAKN>`, `ip:<address>`) blocked until an instant.
    blocked: Mutex<HashMap<String, Instant>>,
}

impl LookupLimits {
    /// `b.per_item` wrong codes per item and `b.per_address` per address within `b.window`.
    pub fn new(b: LookupBudgets) -> Self {
        let (d, i) = (
            f64::from(b.per_item.max(1)),
            f64::from(b.per_address.max(1)),
        );
        let secs = b.window.as_secs_f64().max(1.0);
        Self {
            per_dossier: RateLimiter::new(d, d / secs),
            per_ip: RateLimiter::new(i, i / secs),
            dossier_refill: Duration::from_secs_f64(secs / d),
            ip_refill: Duration::from_secs_f64(secs / i),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    fn keys(ip: &str, item: Item, code: &str) -> (String, String) {
        (
            format!("{}:{}", item.prefix(), code.trim().to_uppercase()),
            format!("ip:{ip}"),
        )
    }

    /// `Err(wait)` while the address or the item `code` is blocked.
    pub fn check(&self, ip: &str, item: Item, code: &str) -> Result<(), Duration> {
        let blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        // Nothing blocked (the usual case): no keys to build, no clock to read.
        if blocked.is_empty() {
            return Ok(());
        }
        let (dk, ik) = Self::keys(ip, item, code);
        let now = Instant::now();
        let wait = [dk, ik]
            .iter()
            .filter_map(|k| blocked.get(k))
            .filter(|until| **until > now)
            .map(|until| *until - now)
            .max();
        match wait {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    /// Spend one try of each budget for a wrong code; `Err(wait)` when a budget was empty
    /// (that address or item is now blocked for `wait`).
    pub fn wrong(&self, ip: &str, item: Item, code: &str) -> Result<(), Duration> {
        let (dk, ik) = Self::keys(ip, item, code);
        let over_dossier = !self.per_dossier.allow(&dk);
        let over_ip = !self.per_ip.allow(&ik);
        if !over_dossier && !over_ip {
            return Ok(());
        }
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        if blocked.len() > 100_000 {
            blocked.retain(|_, until| *until > now);
        }
        let mut wait = Duration::ZERO;
        if over_dossier {
            blocked.insert(dk, now + self.dossier_refill);
            wait = wait.max(self.dossier_refill);
        }
        if over_ip {
            blocked.insert(ik, now + self.ip_refill);
            wait = wait.max(self.ip_refill);
        }
        Err(wait)
    }
}

/// The limits of the server `state` belongs to (created on first use with its configuration's
/// [`WebConfig::lookup_budgets`]). One set per [`AppState`] (told apart by its configuration's allocation, which the
/// registry keeps alive with a weak reference, so no later server can take its address).
pub fn limits(state: &AppState) -> Arc<LookupLimits> {
    type Registry = Mutex<Vec<(Weak<WebConfig>, Arc<LookupLimits>)>>;
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    let mut reg = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some((_, l)) = reg
        .iter()
        .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&state.config)))
    {
        return l.clone();
    }
    // Forget the servers that are gone.
    reg.retain(|(w, _)| w.strong_count() > 0);
    let l = Arc::new(LookupLimits::new(state.config.lookup_budgets));
    reg.push((Arc::downgrade(&state.config), l.clone()));
    l
}

tokio::task_local! {
    /// Seconds a refusal of this request asks the client to wait (for `Retry-After`).
    static RETRY_AFTER: Cell<Option<u64>>;
}

/// The 429 of a blocked look-up (the wait rounded up to whole seconds, also set as
/// `Retry-After` by [`retry_after_layer`]).
fn too_many(wait: Duration) -> AppError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let _ = RETRY_AFTER.try_with(|c| c.set(Some(secs)));
    AppError::new(ErrorCode::RateLimited).with_detail(
        format!(
            "Nhập sai mã tra cứu quá nhiều lần. Vui lòng thử lại sau {secs} giây, hoặc đăng nhập \
             để xem hồ sơ của mình"
        ),
        format!(
            "Too many wrong lookup codes. Try again in {secs} seconds, or sign in to see your \
             own dossiers"
        ),
    )
}

/// The look-up `find` of `item` `code` from `ip`, under the limits: 429 while the address or
/// the item is blocked; an answer `is_wrong` tells apart (a wrong code, an unknown item)
/// spends a try and is returned as it is — or 429 if it was one too many.
async fn limited<T>(
    state: &AppState,
    ip: &str,
    item: Item,
    code: &str,
    find: impl Future<Output = Result<T, AppError>>,
    is_wrong: impl Fn(&AppError) -> bool,
) -> Result<T, AppError> {
    let l = limits(state);
    l.check(ip, item, code).map_err(too_many)?;
    match find.await {
        Err(e) if is_wrong(&e) => {
            l.wrong(ip, item, code).map_err(too_many)?;
            Err(e)
        }
        r => r,
    }
}

fn not_found(e: &AppError) -> bool {
    e.code == ErrorCode::NotFound
}

/// [`dossier::track`] under the limits: 429 while the address or the dossier is blocked; a
/// wrong code (or an unknown dossier) spends a try and answers "not found" — or 429 if it was
/// one too many.
pub async fn track(
    state: &AppState,
    ip: &str,
    code: &str,
    lookup: &str,
) -> Result<Dossier, AppError> {
    let find = dossier::track(&state.db, code, lookup);
    limited(state, ip, Item::Dossier, code, find, not_found).await
}

/// [`feedback::track`] under the limits, exactly as [`track`] for dossiers (a PAKN's budget is
/// its own; the address's is shared).
pub async fn track_feedback(
    state: &AppState,
    ip: &str,
    code: &str,
    lookup: &str,
) -> Result<Feedback, AppError> {
    let find = feedback::track(&state.db, code, lookup);
    limited(state, ip, Item::Feedback, code, find, not_found).await
}

/// [`feedback::send`] under the limits when the PAKN is about a dossier: its dossier's look-up
/// code is checked there, so a wrong one (the field error
/// [`feedback::DOSSIER_NOT_FOUND`]) spends that dossier's and the address's budgets, and a
/// blocked dossier or address is refused with 429 before anything is checked or written.
pub async fn send_feedback(
    state: &AppState,
    ctx: &ReqCtx,
    input: &NewFeedback,
) -> Result<Sent, AppError> {
    let audit = ctx.audit();
    let send = feedback::send(&state.db, &audit, ctx.principal.as_ref(), input);
    if input.dossier_code.trim().is_empty() || input.lookup_code.trim().is_empty() {
        return send.await;
    }
    let wrong_dossier = |e: &AppError| {
        e.fields
            .iter()
            .any(|f| f.code == feedback::DOSSIER_NOT_FOUND)
    };
    limited(
        state,
        &ctx.ip,
        Item::Dossier,
        &input.dossier_code,
        send,
        wrong_dossier,
    )
    .await
}

/// Middleware of the module's routes: a look-up refused by [`limited`] gets its exact wait as
/// `Retry-After` (the problem response's own default is 30 s).
pub async fn retry_after_layer(req: Request, next: Next) -> Response {
    RETRY_AFTER
        .scope(Cell::new(None), async move {
            let mut resp = next.run(req).await;
            if resp.status() == StatusCode::TOO_MANY_REQUESTS {
                if let Some(secs) = RETRY_AFTER.with(Cell::get) {
                    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                        resp.headers_mut().insert(header::RETRY_AFTER, v);
                    }
                }
            }
            resp
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_tries_block_the_dossier_then_the_address() {
        let l = LookupLimits::new(LookupBudgets {
            per_item: 3,
            per_address: 5,
            window: Duration::from_secs(900),
        });
        let d = Item::Dossier;
        for _ in 0..3 {
            assert!(l.check("1.2.3.4", d, "A-1").is_ok());
            assert!(l.wrong("1.2.3.4", d, "A-1").is_ok());
        }
        // The fourth wrong try on the dossier is one too many: blocked for one refill (300 s).
        let wait = l.wrong("1.2.3.4", d, "a-1").unwrap_err();
        assert!(wait > Duration::from_secs(299) && wait <= Duration::from_secs(300));
        assert!(
            l.check("9.9.9.9", d, "A-1").is_err(),
            "the dossier, from anywhere"
        );
        assert!(
            l.check("1.2.3.4", d, "B-2").is_ok(),
            "the address is still within 5"
        );
        // A PAKN with the same code as the blocked dossier has a budget of its own.
        assert!(l.check("9.9.9.9", Item::Feedback, "A-1").is_ok());
        // The address's budget (5) runs out on another dossier and on a PAKN: one budget.
        assert!(l.wrong("1.2.3.4", d, "B-2").is_ok());
        assert!(l.wrong("1.2.3.4", Item::Feedback, "P-1").is_err());
        assert!(l.check("1.2.3.4", d, "C-3").is_err());
        assert!(l.check("1.2.3.4", Item::Feedback, "P-2").is_err());
        assert!(
            l.check("5.6.7.8", d, "C-3").is_ok(),
            "other addresses are not blocked"
        );
    }
}
