//! The error answers of the document, one reusable response per status: the error shape
//! `{"error", "message"}` whose `error` is one of the catalogue's codes with that status
//! (src/catalogue.rs, so a new code is in the document with no edit here). Handlers name them
//! in `responses(...)`: `(status = 404, response = NotFound)`.

use crate::catalogue::Code;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};

/// `{"error": <a code with this status>, "message": <a sentence that says what to do>}`.
pub fn error_schema(status: u16) -> ObjectBuilder {
    let codes: Vec<&str> = Code::ALL.iter().filter(|c| c.status().as_u16() == status).map(|c| c.as_str()).collect();
    ObjectBuilder::new()
        .property("error", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(codes)))
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .required("error")
        .required("message")
}

fn error_response(status: u16, description: &str) -> Response {
    let content = ContentBuilder::new().schema(Some(error_schema(status).build())).build();
    ResponseBuilder::new().description(description).content("application/json", content).build()
}

/// Makes the 404 of `responses` (added when absent) also answer the error shape as JSON: a path
/// parameter the gateway will not route (an encoded `/`, `\` or NUL) is its JSON 404.
pub fn json_404(responses: &mut utoipa::openapi::Responses) {
    let r = responses
        .responses
        .entry("404".into())
        .or_insert(RefOr::Ref(utoipa::openapi::Ref::from_response_name("NotFound")));
    if let RefOr::T(r) = r {
        if !r.content.contains_key("application/json") {
            let content = ContentBuilder::new().schema(Some(error_schema(404).build())).build();
            r.content.insert("application/json".into(), content);
        }
    }
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl $name {
            pub const NAME: &'static str = stringify!($name);
        }

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_response($status, $description).into())
            }
        }
    )*};
}

error_responses! {
    BadRequest = 400, "The request cannot be read: malformed JSON or X-Forwarded-For, a wrong code or password where the endpoint says so.";
    Unauthorized = 401, "Not signed in, a wrong credential or code, or a missing or invalid application key (WWW-Authenticate: Bearer where a token would do).";
    Forbidden = 403, "Refused: a cross-site request with Gatehouse's cookies, an address an application may not call from, or what the endpoint says.";
    NotFound = 404, "No such object (or it expired), or not the caller's.";
    Conflict = 409, "The object is not in the state this needs.";
    PayloadTooLarge = 413, "The body is larger than server.max_body_bytes.";
    UnsupportedMediaType = 415, "The body is not application/json.";
    Unprocessable = 422, "A field is missing or wrong; the message names it.";
    TooManyRequests = 429, "A rate limit or a failure budget: wait Retry-After seconds.";
    BadGateway = 502, "A service Gatehouse called did not take the request (a delivery provider: the message says why).";
    Unavailable = 503, "The store is unavailable or too many sign-ins are running: retry shortly (Retry-After when known).";
}
