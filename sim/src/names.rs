//! Name and text checks shared by the engine and modes.

use tickroom_protocol::{ErrorBody, ErrorCode};

/// A display or formation name: 1..=`max_chars` characters, no control
/// characters, not only white space.
pub fn check_name(field: &str, value: &str, max_chars: usize) -> Result<(), ErrorBody> {
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

/// A chat line: 1..=`max_chars` characters, not only white space, no
/// control characters but line breaks and tabs.
pub fn check_chat(text: &str, max_chars: usize) -> Result<(), ErrorBody> {
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(ErrorBody::new(
            ErrorCode::FieldTooLong,
            format!("chat text has {chars} characters, more than {max_chars}"),
        )
        .with("field", "text")
        .with("len", chars)
        .with("max", max_chars));
    }
    let control = |c: char| c.is_control() && c != '\n' && c != '\t';
    if text.trim().is_empty() || text.chars().any(control) {
        return Err(ErrorBody::new(
            ErrorCode::InvalidArgument,
            "chat text must be non-blank and free of control characters",
        )
        .with("field", "text"));
    }
    Ok(())
}
