//! The organization console: the single-page application of `console/`,
//! built by `npm run build` and embedded in the binary by `build.rs`.
//! Everything under `/console` carries a strict Content-Security-Policy of
//! its own (Swagger UI keeps its own headers): scripts and styles from
//! this origin only, no inline script, connections to this origin and the
//! identity provider's, and no framing.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::config::ConsoleSettings;

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// What `/console` says when the binary was built without the page.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>orgman console</title></head><body><main><h1>The console is not built into this binary</h1>\
<p>Build the page, then the server again:</p>\
<pre>cd crates/orgman-server/console &amp;&amp; npm ci &amp;&amp; npm run build\n\
cargo build -p orgman-server</pre>\
<p><code>cargo xtask dev</code> and <code>cargo xtask test</code> do both.</p></main></body></html>";

/// The routes of `/console`, when it is enabled.
pub(crate) fn configure(settings: ConsoleSettings) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config: &mut web::ServiceConfig| {
        if !settings.enabled {
            return;
        }
        let policy = content_security_policy(&settings);
        let settings = web::Data::new(settings);
        config.service(
            web::scope("/console")
                .app_data(settings)
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add((header::CONTENT_SECURITY_POLICY, policy))
                        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                        .add((header::REFERRER_POLICY, "no-referrer"))
                        .add((header::X_FRAME_OPTIONS, "DENY")),
                )
                .route("/config.json", read().to(client_config))
                .route("/assets/{file}", read().to(asset))
                .default_service(read().to(page)),
        );
        config.route(
            "/console",
            read().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, "/console/"))
                    .finish()
            }),
        );
    }
}

/// GET, and HEAD (answered with the same headers, without the body).
fn read() -> actix_web::Route {
    web::route().guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
}

/// The page's policy: `connect-src` names this origin and the identity
/// provider's (token and refresh calls), nothing inline anywhere.
fn content_security_policy(settings: &ConsoleSettings) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src 'self' {issuer}; form-action 'self' {issuer}; \
         base-uri 'none'; frame-ancestors 'none'",
        issuer = settings.issuer_origin()
    )
}

/// What the page needs to log in: the issuer and its public client.
async fn client_config(settings: web::Data<ConsoleSettings>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(serde_json::json!({
            "authority": settings.issuer,
            "clientId": settings.client_id,
        }))
}

fn find(name: &str) -> Option<&'static [u8]> {
    CONSOLE_ASSETS
        .iter()
        .find(|(path, _)| *path == name)
        .map(|(_, bytes)| *bytes)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// A built file: named by its content hash, so cached for good; the gzip
/// copy the build wrote beside it for browsers that take gzip.
async fn asset(request: HttpRequest, file: web::Path<String>) -> HttpResponse {
    let name = format!("assets/{file}");
    let Some(bytes) = find(&name) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such file of the console");
    };
    let gzip_ok = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut response = HttpResponse::Ok();
    response
        .content_type(content_type(&name))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::VARY, "Accept-Encoding"));
    match find(&format!("{name}.gz")).filter(|_| gzip_ok) {
        Some(compressed) => response
            .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")))
            .body(compressed),
        None => response.body(bytes),
    }
}

/// The page itself, for `/console/` and any route of the application.
async fn page() -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    match find("index.html") {
        Some(html) => response.body(html),
        None => response.body(NOT_BUILT),
    }
}
