//! Words of a scenario line that carry free text (client names, display
//! names, formation names and keys, dice notation, chat): `%XX` escapes any
//! byte, so text a real client sent — spaces, `#`, `{`, a leading `!`, a
//! reserved word — survives the trip through an exported scenario file.
//! `""` stands for the empty string.

/// Words that start a line with a meaning of their own; a client with one of
/// these names is written with its first byte escaped.
pub(crate) const RESERVED: &[&str] = &[
    "scenario", "seed", "room", "room-id", "snapshot", "hash", "tick", "restore", "expect", "for",
    "end", "admin", NO_SEAT,
];

/// The client that has no seat: its requests carry no member id.
pub(crate) const NO_SEAT: &str = "-";

/// Decodes `%XX` escapes; `""` is the empty string.
pub fn decode(word: &str) -> Result<String, String> {
    if word == "\"\"" {
        return Ok(String::new());
    }
    if !word.contains('%') {
        return Ok(word.to_owned());
    }
    let bytes = word.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = word
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("`%` must be followed by two hex digits in `{word}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{word}` decodes to invalid UTF-8"))
}

/// Encodes `text` as one word that [`decode`] turns back into `text`.
pub fn encode(text: &str) -> String {
    if text.is_empty() {
        return "\"\"".into();
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let escape = match c {
            '%' | '#' | '{' | '}' => true,
            '!' => i == 0,
            '"' => text == "\"\"",
            c => c.is_whitespace() || c.is_control(),
        };
        if escape {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// A client name: encoded, and escaped further if it would read as a keyword.
pub(crate) fn encode_client(user: &str) -> String {
    let word = encode(user);
    if !RESERVED.contains(&word.as_str()) {
        return word;
    }
    let mut chars = word.chars();
    let mut out = String::new();
    if let Some(first) = chars.next() {
        push_escaped(&mut out, first);
    }
    out.extend(chars);
    out
}

/// A display name after `name=`, where `_` reads as a space.
pub(crate) fn encode_display_name(name: &str) -> String {
    // `encode` writes a literal `%` as `%25`, so every `%20` it made is a space.
    encode(name).replace('_', "%5F").replace("%20", "_")
}

/// Decodes a `name=` value: `_` is a space, then `%XX` escapes.
pub(crate) fn decode_display_name(word: &str) -> Result<String, String> {
    decode(&word.replace('_', " "))
}

/// Encodes chat text as words joined by single spaces; spaces that a plain
/// join would lose (leading, trailing, repeated) are escaped.
pub fn encode_chat(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let separator = c == ' ' && !word.is_empty() && chars.get(i + 1).is_some_and(|n| *n != ' ');
        if separator {
            words.push(encode(&word));
            word.clear();
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        words.push(encode(&word));
    }
    words
}

/// Decodes chat words back into the text.
pub fn decode_chat(words: &[&str]) -> Result<String, String> {
    let decoded = words
        .iter()
        .map(|w| decode(w))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(decoded.join(" "))
}

fn push_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("%{b:02X}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWKWARD: &[&str] = &[
        "",
        " ",
        "  ",
        "plain",
        "two words",
        " lead",
        "trail ",
        "a  b",
        "#hash",
        "a #b",
        "{1+1}",
        "!LOCK_HELD",
        "wow!",
        "100%",
        "%41",
        "\"\"",
        "\"",
        "under_score",
        "tab\there",
        "new\nline",
        "é ü 日本",
        "\u{a0}nbsp",
        "tick",
        "admin",
        "-",
        "end",
    ];

    #[test]
    fn words_round_trip_and_stay_one_word() {
        for text in AWKWARD {
            let w = encode(text);
            assert_eq!(w.split_whitespace().count(), 1, "{text:?} -> {w:?}");
            assert!(!w.starts_with('!') && !w.contains('#') && !w.contains('{'));
            assert_eq!(decode(&w).unwrap(), *text);
        }
    }

    #[test]
    fn client_names_never_read_as_keywords() {
        for text in AWKWARD {
            let w = encode_client(text);
            assert!(!RESERVED.contains(&w.as_str()), "{text:?} -> {w:?}");
            assert_eq!(decode(&w).unwrap(), *text);
        }
        assert_eq!(encode_client("alice"), "alice");
    }

    #[test]
    fn display_names_and_chat_round_trip() {
        for text in AWKWARD {
            let n = encode_display_name(text);
            assert_eq!(n.split_whitespace().count(), 1);
            assert_eq!(decode_display_name(&n).unwrap(), *text);
            let words = encode_chat(text);
            let line = words.join(" ");
            let split: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(split.len(), words.len(), "{text:?} -> {line:?}");
            assert_eq!(decode_chat(&split).unwrap(), *text, "{line:?}");
        }
        assert_eq!(encode_chat("hello there"), ["hello", "there"]);
        assert_eq!(decode_display_name("Big_Al").unwrap(), "Big Al");
        assert_eq!(encode_display_name("Big Al_2 %20"), "Big_Al%5F2_%2520");
    }

    #[test]
    fn bad_escapes_are_refused() {
        for w in ["%", "%4", "%zz", "%FF"] {
            assert!(decode(w).is_err(), "{w}");
        }
    }
}
