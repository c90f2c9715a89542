//! The security headers of every reply, for deployments without nginx in front (deploy/nginx.conf
//! sets the same ones, in place of the node's): HSTS, no MIME sniffing, no `Referer` (tokens
//! travel in WebSocket query strings), and a Content-Security-Policy under which the test page
//! loads only the node's own files, runs no inline script and is never framed.

use actix_web::middleware::DefaultHeaders;

/// Every reply's security headers (a handler's own header of the same name wins).
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("Strict-Transport-Security", "max-age=31536000"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    (
        "Content-Security-Policy",
        "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
];

/// The middleware that adds `SECURITY_HEADERS` to every reply.
pub fn security_headers() -> DefaultHeaders {
    SECURITY_HEADERS.iter().fold(DefaultHeaders::new(), |headers, &pair| headers.add(pair))
}
