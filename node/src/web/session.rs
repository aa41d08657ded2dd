//! Sign-in sessions for the pages: a token is shown once, at sign-in, and the browser then
//! holds only a random session id in an HttpOnly, SameSite=Strict cookie (Secure over TLS).
//! Every form carries the session's CSRF token, and every script call sends it in a header,
//! so a page of another site can neither read nor forge a request in the staff's name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use tongban_protocol::engine::Actor;
use tongban_protocol::suite::Suite;

/// The session cookie's name.
pub(super) const SESSION_COOKIE: &str = "tongban_session";
/// The cookie that carries the sign-in form's CSRF token before there is a session.
pub(super) const LOGIN_COOKIE: &str = "tongban_login";
/// A session ends after this long without a request (a working day's pause).
const IDLE: Duration = Duration::from_secs(8 * 3600);
/// At most this many sessions at once; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in member of staff.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// Who acts, exactly as a bearer token with the same role would.
    pub actor: Actor,
    /// The token's name, shown in the header bar.
    pub name: String,
    /// The token every form and script call of this session must carry.
    pub csrf: String,
    /// The federation's crypto suite, for the pages' script (which digest to upload by) and
    /// texts.
    pub suite: Suite,
    /// When it was last used.
    seen: Instant,
}

/// The node's open sessions (in memory: a restart signs everyone out).
#[derive(Default)]
pub(crate) struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `actor`; its id (for the cookie) and the session.
    pub(super) fn open(
        &self,
        actor: Actor,
        name: String,
        suite: Suite,
    ) -> Option<(String, Session)> {
        let id = random_hex()?;
        let session = Session {
            actor,
            name,
            suite,
            csrf: random_hex()?,
            seen: Instant::now(),
        };
        let mut open = self.open.lock().ok()?;
        open.retain(|_, s| s.seen.elapsed() < IDLE);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.seen)
                .map(|(k, _)| k.clone())
        {
            open.remove(&oldest);
        }
        open.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The session the request's cookie names, if it is open; its idle time starts again.
    pub(super) fn find(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut open = self.open.lock().ok()?;
        let session = open.get_mut(id)?;
        if session.seen.elapsed() >= IDLE {
            open.remove(id);
            return None;
        }
        session.seen = Instant::now();
        Some(session.clone())
    }

    /// Ends the request's session.
    pub(super) fn close(&self, headers: &HeaderMap) {
        if let (Some(id), Ok(mut open)) = (cookie(headers, SESSION_COOKIE), self.open.lock()) {
            open.remove(id);
        }
    }
}

/// 32 random bytes as hex: session ids and CSRF tokens.
pub(super) fn random_hex() -> Option<String> {
    crate::keys::random_bytes::<32>().ok().map(hex::encode)
}

/// The value of the request's cookie `name`.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, for the whole site; Secure over TLS;
/// `max_age` 0 removes it.
pub(super) fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// Whether `given` is `expected`, compared in constant time (a CSRF token).
pub(super) fn same_token(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_at_sign_out() {
        let sessions = Sessions::default();
        let (id, s) = sessions
            .open(Actor::BackOffice, "office".into(), Suite::Ed25519)
            .unwrap();
        assert_eq!(id.len(), 64);
        assert_ne!(id, s.csrf);
        let mut headers = HeaderMap::new();
        assert!(sessions.find(&headers).is_none());
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {SESSION_COOKIE}={id}")).unwrap(),
        );
        assert_eq!(sessions.find(&headers).unwrap().name, "office");
        sessions.close(&headers);
        assert!(sessions.find(&headers).is_none());
    }

    #[test]
    fn cookies_are_http_only_and_strict_and_secure_over_tls() {
        let c = set_cookie("a", "b", true, Some(0));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie("a", "b", false, None).contains("Secure"));
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abd", "abc"));
        assert!(!same_token("ab", "abc"));
    }
}
