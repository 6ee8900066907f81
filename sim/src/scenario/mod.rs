//! Scenarios: plain-text files that script a room tick by tick and state what
//! must hold. They run headless (`tickroom scenario run`) and in CI.
//!
//! ```text
//! scenario Two players take the same lock in one tick
//! seed 7
//! room teams=2 pieces_per_team=2 lock_ttl_ticks=20
//!
//! tick 1
//!   alice join team=0
//!   bob join team=0
//! tick 2
//!   alice lock 0
//!   bob lock 0            !LOCK_HELD
//!   expect lock 0 alice
//! for t in 3..103
//!   tick {t}
//!   alice move 0 {t} {t*2}
//! end
//! hash 0123456789abcdef
//! ```
//!
//! Every action's outcome is checked: without a suffix it must be applied;
//! `!CODE` expects a rejection with that error code, `!DUPLICATE` an
//! idempotent repeat. `expect` lines are checked after their tick. See
//! `docs/scenarios.md` for the whole language.

mod export;
mod expr;
mod parse;
mod run;
pub mod words;

pub use export::ScenarioWriter;
pub use parse::{ParseError, Scenario, parse, parse_with, with_hash};
pub use run::{RunReport, run};

use crate::registry::Modes;

/// One scenario file's result: why it does not parse, or its run.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file's name, as the caller gave it (its path).
    pub name: String,
    /// The mode the file plays, once parsed.
    pub mode: Option<&'static str>,
    pub result: Result<RunReport, ParseError>,
}

impl FileReport {
    /// It parsed, and [`RunReport::passed`].
    pub fn passed(&self) -> bool {
        self.result.as_ref().is_ok_and(RunReport::passed)
    }

    /// Every problem, one line each: the parse error, or
    /// [`RunReport::problems`].
    pub fn problems(&self) -> Vec<String> {
        match &self.result {
            Ok(report) => report.problems(),
            Err(e) => vec![e.to_string()],
        }
    }
}

/// Parses and runs scenario files already read (a directory's, say),
/// `(name, text)` each, with the modes `modes` serves: one report per
/// file, in name order. No I/O: the caller reads the files.
pub fn run_files<N: Into<String>, T: AsRef<str>>(
    files: impl IntoIterator<Item = (N, T)>,
    modes: &Modes,
) -> Vec<FileReport> {
    let mut reports: Vec<FileReport> = files
        .into_iter()
        .map(|(name, text)| {
            let parsed = parse_with(text.as_ref(), modes);
            FileReport {
                name: name.into(),
                mode: parsed.as_ref().ok().map(|s| s.mode.name()),
                result: parsed.map(|s| run(&s)),
            }
        })
        .collect();
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    reports
}

/// Every key a `room` line may set, with its default: the framework's and
/// the mode's.
pub(crate) fn default_config_json(
    mode: &crate::registry::ModeRef,
) -> serde_json::Map<String, serde_json::Value> {
    let config = tickroom_protocol::RoomConfig {
        mode: mode.name().to_owned(),
        game: tickroom_protocol::Payload::from_json(&mode.default_config().to_string())
            .unwrap_or_default(),
        ..tickroom_protocol::RoomConfig::default()
    };
    match serde_json::to_value(config) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// The generic form of an intent in a scenario line: `VERB key=value…`,
/// as the JSON the mode decodes (`{"VERB": {"key": value, …}}`). A dotted
/// key nests (`to.x=3`); a value is read as JSON when it is one (`3`,
/// `true`, `[1,2]`, `"7"` for the text 7), else as text; `%XX` escapes
/// apply first.
pub(crate) fn generic_intent(verb: &str, args: &[&str]) -> Result<String, String> {
    let mut fields = serde_json::Map::new();
    for kv in args {
        let (key, raw) = kv
            .split_once('=')
            .ok_or_else(|| format!("`{verb}` takes key=value arguments; got `{kv}`"))?;
        let text = words::decode(raw)?;
        let value = serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or(serde_json::Value::String(text));
        let mut at = &mut fields;
        let mut path = key.split('.').peekable();
        while let Some(part) = path.next() {
            if part.is_empty() {
                return Err(format!("`{key}` is no field path"));
            }
            if path.peek().is_none() {
                if at.insert(part.to_owned(), value.clone()).is_some() {
                    return Err(format!("`{key}` is given twice"));
                }
                break;
            }
            let next = at
                .entry(part.to_owned())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            at = next
                .as_object_mut()
                .ok_or_else(|| format!("`{key}`: `{part}` is not an object"))?;
        }
    }
    let mut intent = serde_json::Map::new();
    intent.insert(verb.to_owned(), serde_json::Value::Object(fields));
    Ok(serde_json::Value::Object(intent).to_string())
}

/// The generic form of an intent ([`generic_intent`]'s inverse).
pub(crate) fn generic_words<T: serde::Serialize>(intent: &T) -> Result<String, String> {
    let json = serde_json::to_value(intent).map_err(|e| e.to_string())?;
    let Some((verb, fields)) = json.as_object().and_then(|o| o.iter().next()) else {
        return Err(format!(
            "an intent must be an enum of struct variants, not {json}"
        ));
    };
    let mut line = verb.clone();
    let mut push = |key: &str, v: &serde_json::Value| {
        let text = match v {
            // Text that would read as JSON is written quoted.
            serde_json::Value::String(s)
                if serde_json::from_str::<serde_json::Value>(s).is_ok() =>
            {
                v.to_string()
            }
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        line.push_str(&format!(" {key}={}", words::encode(&text)));
    };
    fn walk(
        prefix: &str,
        fields: &serde_json::Map<String, serde_json::Value>,
        push: &mut dyn FnMut(&str, &serde_json::Value),
    ) {
        for (k, v) in fields {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v.as_object() {
                Some(inner) if !inner.is_empty() => walk(&key, inner, push),
                _ => push(&key, v),
            }
        }
    }
    match fields {
        serde_json::Value::Object(f) => walk("", f, &mut push),
        other => return Err(format!("intent `{verb}` is not a struct variant: {other}")),
    }
    Ok(line)
}

#[cfg(test)]
mod generic_tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Game {
        Place { cell: u8, to: Spot, note: String },
        Pass {},
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Spot {
        x: i32,
        y: i32,
    }

    #[test]
    fn the_generic_form_reads_back_what_it_writes() {
        for intent in [
            Game::Place {
                cell: 4,
                to: Spot { x: -1, y: 2 },
                note: "12".into(),
            },
            Game::Place {
                cell: 0,
                to: Spot { x: 0, y: 0 },
                note: "a b#c".into(),
            },
            Game::Pass {},
        ] {
            let line = generic_words(&intent).unwrap();
            let words: Vec<&str> = line.split_whitespace().collect();
            let json = generic_intent(words[0], &words[1..]).unwrap();
            assert_eq!(
                serde_json::from_str::<Game>(&json).unwrap(),
                intent,
                "{line}"
            );
        }
        assert_eq!(
            generic_words(&Game::Pass {}).unwrap(),
            "pass",
            "a variant without fields is its verb"
        );
        assert!(generic_intent("place", &["cell"]).is_err());
        assert!(generic_intent("place", &["cell=1", "cell=2"]).is_err());
    }
}
