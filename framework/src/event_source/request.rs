//! What [`EventSource::connect`](super::EventSource::connect) accepts: a
//! URL, or a whole request (method, headers, body) for the streaming APIs
//! that answer a `POST` with an event stream.

use bytes::Bytes;
use http::{Request, Uri};

use super::EventSourceError;

/// An event-stream request: a URL (`&str`, `String`, [`Uri`]: a `GET`), or
/// an [`http::Request`] with any method, headers and a body (`()`,
/// `String`, `Vec<u8>`, [`Bytes`], `&'static str`).
///
/// ```
/// use tidings_framework::event_source::IntoEventSourceRequest;
/// use tidings_framework::http::Request;
///
/// // An LLM-style streaming call: POST a JSON body, read the events.
/// let request = Request::post("https://api.example.com/v1/chat")
///     .header("authorization", "Bearer sk-...")
///     .header("content-type", "application/json")
///     .body(r#"{"stream":true,"prompt":"hello"}"#)
///     .unwrap();
/// let request = request.into_event_source_request().unwrap();
/// assert_eq!(request.method(), "POST");
/// ```
///
/// Every reconnection sends the same request again, with `Last-Event-ID`
/// when an id was received.
pub trait IntoEventSourceRequest {
    /// The request with its body as bytes, or why the URL is not usable.
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError>;
}

fn get(uri: Uri) -> Request<Bytes> {
    let mut request = Request::new(Bytes::new());
    *request.uri_mut() = uri;
    request
}

impl IntoEventSourceRequest for &str {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        // The fragment is never sent.
        let url = self.split_once('#').map_or(self, |(before, _)| before);
        let uri = Uri::try_from(url).map_err(|_| EventSourceError::InvalidUrl {
            reason: "not a valid absolute URL",
        })?;
        Ok(get(uri))
    }
}

impl IntoEventSourceRequest for &String {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        self.as_str().into_event_source_request()
    }
}

impl IntoEventSourceRequest for String {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        self.as_str().into_event_source_request()
    }
}

impl IntoEventSourceRequest for Uri {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        Ok(get(self))
    }
}

impl IntoEventSourceRequest for Request<()> {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        Ok(self.map(|()| Bytes::new()))
    }
}

impl IntoEventSourceRequest for Request<Bytes> {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        Ok(self)
    }
}

impl IntoEventSourceRequest for Request<String> {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        Ok(self.map(Bytes::from))
    }
}

impl IntoEventSourceRequest for Request<Vec<u8>> {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        Ok(self.map(Bytes::from))
    }
}

impl IntoEventSourceRequest for Request<&'static str> {
    fn into_event_source_request(self) -> Result<Request<Bytes>, EventSourceError> {
        Ok(self.map(|text| Bytes::from_static(text.as_bytes())))
    }
}
