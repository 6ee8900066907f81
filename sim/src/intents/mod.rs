//! One module per kind of input, each holding its own validate / authorize /
//! lock / apply stages; `pipeline` runs them in order.

pub(crate) mod chat;
pub(crate) mod dice;
pub(crate) mod formation;
pub(crate) mod lock;
pub(crate) mod match_control;
pub(crate) mod membership;
pub(crate) mod movement;

use tickroom_protocol::{ErrorBody, ErrorCode};

/// A display or formation name: 1..=`max_chars` characters, no control
/// characters, not only white space.
pub(crate) fn check_name(field: &str, value: &str, max_chars: usize) -> Result<(), ErrorBody> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(ErrorBody::new(
            ErrorCode::FieldTooLong,
            format!("{field} has {chars} characters, more than {max_chars}"),
        )
        .with("field", field)
        .with("len", chars)
        .with("max", max_chars));
    }
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            format!("{field} must be non-blank and free of control characters"),
        )
        .with("field", field));
    }
    Ok(())
}
