//! Where one provider is reached and with which key: its base URL, each endpoint's URL parsed
//! once, and the key, kept in a [`Secret`] that is never shown and scrubbed from what a provider
//! sends back.

use std::borrow::Cow;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use super::ApiEndpoint;

/// An API key. Never printed, serialized or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        crate::logging::redact(&key);
        Secret(key)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key in `text`. A key shorter than
    /// [`crate::logging::MIN_REDACTED_LEN`] is left alone: it cannot be a real secret, and
    /// replacing it would mangle ordinary words (a key `x` in "does not exist").
    pub fn scrub(&self, text: &str) -> String {
        self.scrub_cow(text).into_owned()
    }

    /// Like [`Secret::scrub`], without a copy when the key is not there.
    pub fn scrub_cow<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.0.len() < crate::logging::MIN_REDACTED_LEN || !text.contains(&self.0) {
            text.into()
        } else {
            text.replace(&self.0, "[redacted]").into()
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where one provider is reached and with which key.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub provider: String,
    /// Base URL without trailing slash, e.g. `https://api.openai.com/v1`. Private, with the
    /// key: the URLs and the header below are made from them once.
    base_url: String,
    api_key: Option<Secret>,
    /// Each endpoint's URL, parsed once (parsing it for every request was a tenth of a short
    /// request's instructions); `None` where the base URL does not parse, which the request
    /// then reports.
    urls: std::sync::Arc<[Option<reqwest::Url>; ApiEndpoint::ALL.len()]>,
    /// Where the exchange of sheepdog's own sends them, for `http://` base URLs.
    plain: std::sync::Arc<[Option<super::plain::Target>; ApiEndpoint::ALL.len()]>,
    /// `Authorization: Bearer <key>`, made once and marked sensitive (left out of debug
    /// output); `None` without a key or for a key no header can hold.
    pub(super) authorization: Option<reqwest::header::HeaderValue>,
}

impl Endpoint {
    pub fn new(provider: impl Into<String>, base_url: impl Into<String>, api_key: Option<Secret>) -> Endpoint {
        let base_url = base_url.into();
        let urls = ApiEndpoint::ALL.map(|api| reqwest::Url::parse(&format!("{base_url}{}", api.path())).ok());
        let plain = urls
            .each_ref()
            .map(|url| url.as_ref().and_then(super::plain::Target::new));
        let authorization = api_key.as_ref().and_then(|key| {
            let mut value = reqwest::header::HeaderValue::try_from(format!("Bearer {}", key.expose())).ok()?;
            value.set_sensitive(true);
            Some(value)
        });
        Endpoint {
            provider: provider.into(),
            base_url,
            api_key,
            urls: std::sync::Arc::new(urls),
            plain: std::sync::Arc::new(plain),
            authorization,
        }
    }

    /// Base URL without trailing slash, e.g. `https://api.openai.com/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn api_key(&self) -> Option<&Secret> {
        self.api_key.as_ref()
    }

    /// The URL a request to `api` is sent to: parsed once, or the text to parse (and fail on).
    pub(super) fn url(&self, api: ApiEndpoint) -> Result<&reqwest::Url, String> {
        let at = ApiEndpoint::ALL.iter().position(|a| *a == api);
        match at.and_then(|at| self.urls[at].as_ref()) {
            Some(url) => Ok(url),
            None => Err(format!("{}{}", self.base_url, api.path())),
        }
    }

    /// Where a plain-HTTP request to `api` goes; `None` unless the URL is `http://`.
    pub(super) fn plain_target(&self, api: ApiEndpoint) -> Option<&super::plain::Target> {
        let at = ApiEndpoint::ALL.iter().position(|a| *a == api)?;
        self.plain[at].as_ref()
    }

    pub(super) fn scrub(&self, text: &str) -> String {
        self.scrub_cow(text).into_owned()
    }

    pub(super) fn scrub_cow<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.api_key {
            Some(key) => key.scrub_cow(text),
            None => text.into(),
        }
    }
}

/// A JSON POST to `api` at `endpoint`, with its key; and its URL, for error messages.
pub(super) fn post<'a>(
    http: &reqwest::Client,
    endpoint: &'a Endpoint,
    api: ApiEndpoint,
) -> (reqwest::RequestBuilder, Cow<'a, str>) {
    let (request, url) = match endpoint.url(api) {
        Ok(url) => (http.post(url.clone()), Cow::Borrowed(url.as_str())),
        Err(text) => (http.post(&text), Cow::Owned(text)),
    };
    let request = request.header(CONTENT_TYPE, "application/json");
    match &endpoint.authorization {
        Some(value) => (request.header(AUTHORIZATION, value.clone()), url),
        // A key no header can hold: reqwest refuses the request, and says why.
        None if endpoint.api_key.is_some() => {
            let key = endpoint.api_key.as_ref().map_or("", |k| k.expose());
            (request.header(AUTHORIZATION, format!("Bearer {key}")), url)
        }
        None => (request, url),
    }
}
