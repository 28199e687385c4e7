//! Log lines on stderr, which the host prefixes with the request id.
//!
//! Lines carry the route, document and user ids; callers never pass tokens, secrets, signed URLs
//! or file contents.

use crate::error::LogContext;

fn line(level: &str, context: &LogContext, message: &str) {
    let document = context.document.as_deref().unwrap_or("-");
    let user = context.user.as_deref().unwrap_or("-");
    eprintln!("level={level} route={} document={document} user={user} {message}", context.route);
}

/// Logs an event worth keeping (a document created, a version stored).
pub fn info(context: &LogContext, message: &str) {
    line("info", context, message);
}

/// Logs a rejected request.
pub fn warn(context: &LogContext, message: &str) {
    line("warn", context, message);
}

/// Logs a failure of the connector or of what it depends on.
pub fn error(context: &LogContext, message: &str) {
    line("error", context, message);
}
