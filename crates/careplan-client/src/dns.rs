//! Host names resolved once a minute, not once per request.
//!
//! ureq (3.5) resolves the relay's host name before it looks for a pooled connection, on
//! every request, and with a timeout set (the client always sets one) it does so on a new
//! thread: one thread started and ended per request, even for an IP address and a
//! connection that is reused. [`CachingResolver`] keeps each answer for [`TTL`], so a
//! reused connection costs no thread (measured in docs/performance.md, issue 13).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// How long an answer is kept.
pub const TTL: Duration = Duration::from_secs(60);

/// Host names kept at most (a client talks to one relay; a few more are harmless).
const MAX_HOSTS: usize = 16;

/// ureq's resolver with its answers kept for [`TTL`].
#[derive(Debug, Default)]
pub struct CachingResolver {
    inner: DefaultResolver,
    cache: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        );
        if let Ok(cache) = self.cache.lock()
            && let Some((at, addrs)) = cache.get(&key)
            && at.elapsed() < TTL
        {
            return Ok(addrs.clone());
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_HOSTS {
                cache.clear();
            }
            cache.insert(key, (Instant::now(), addrs.clone()));
        }
        Ok(addrs)
    }
}

/// An agent with `config` whose host names are resolved through a [`CachingResolver`].
pub fn agent(config: Config) -> ureq::Agent {
    ureq::Agent::with_parts(
        config,
        DefaultConnector::default(),
        CachingResolver::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_kept_and_a_wrong_host_is_still_an_error() {
        let r = CachingResolver::default();
        let cfg = Config::default();
        let uri: Uri = "https://127.0.0.1:4443/api".parse().expect("uri");
        let first = r
            .resolve(&uri, &cfg, NextTimeout::default())
            .expect("resolves");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].to_string(), "127.0.0.1:4443");
        assert_eq!(r.cache.lock().expect("lock").len(), 1);
        let again = r
            .resolve(&uri, &cfg, NextTimeout::default())
            .expect("cached");
        assert_eq!(again[0], first[0]);
        let other: Uri = "https://127.0.0.2:4443/".parse().expect("uri");
        assert_eq!(
            r.resolve(&other, &cfg, NextTimeout::default())
                .expect("resolves")[0]
                .to_string(),
            "127.0.0.2:4443"
        );
        assert_eq!(r.cache.lock().expect("lock").len(), 2);
        let bad: Uri = "https://no-such-host.invalid:4443/".parse().expect("uri");
        assert!(r.resolve(&bad, &cfg, NextTimeout::default()).is_err());
        assert_eq!(r.cache.lock().expect("lock").len(), 2);
    }
}
