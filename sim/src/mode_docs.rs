//! Keeping a mode's page true: the checks a mode's documentation page for
//! client writers (`docs/modes/NAME.md`) must pass against the mode's code,
//! for any [`Mode`]. A mode's crate reads its page in a test and asks a
//! [`Page`] for its [`problems`](Page::problems):
//!
//! ```ignore
//! let text = std::fs::read_to_string("../../docs/modes/tictactoe.md").unwrap();
//! let problems = Page::<TicTacToe>::new(&text, intent_samples(), event_samples())
//!     .unit_enum("Mark", &[Mark::X, Mark::O])
//!     .rejections(REJECTIONS)
//!     .problems();
//! assert!(problems.is_empty(), "{}", problems.join("\n"));
//! ```
//!
//! The samples must be one of each variant, in order: every variant the
//! enum's derived `Deserialize` declares ([`variant_names`]), so a new
//! variant fails the test until it has a sample, and then a heading.
//!
//! What a page must hold (the layout of `docs/modes/*.md`):
//!
//! - **Intents and events.** `## Intents` has the table `| intent | index |
//!   rate class | durable | audited |`, row for row [`Mode::INTENTS`].
//!   Every intent and event variant has a heading ``#### `tag` (index N)``
//!   (N its postcard index), and no other `####` heading is on the page
//!   (none for the framework's events either). Under it: a table of
//!   exactly its fields in declaration (postcard) order, first column
//!   `` `field` ``, second its type (an integer's width first: `u8` … `i64`),
//!   or the words "No fields"; a `json` example of it (bare, or in an
//!   `intent` message or a `delta`); for an intent, the word "durable" only
//!   when it is durable and "audit" only when it is audited, and an
//!   `Errors:` paragraph.
//! - **Examples.** Every `json` block decodes — as a framework message whose
//!   mode payloads are the mode's types, or bare as the mode's intent,
//!   event, state (its [`Mode::View`]) or config — within the frame limits,
//!   and re-encodes to exactly the same bytes. A `reject` names a known code.
//! - **State.** `## State` lists the fields of a new room's view in order;
//!   a table `| type | fields, in order |` there has a row for exactly the
//!   types given with [`Page::type_fields`] (`` `field: type` `` cells in
//!   order). Each [`Page::unit_enum`] has its row ``| `Name` | `a`, `b` |``.
//! - **Config.** `## Config` has the table `| key | type | default | bounds |
//!   meaning |`, a row per setting of [`Mode::Config`] in declaration order,
//!   the default's first word being its JSON; a bounds cell is `MIN ..= MAX`
//!   (numbers or another key in backticks), which [`Mode::validate_config`]
//!   must accept and refuse one past with `INVALID_CONFIG` naming the key
//!   and that range; or ``see `KEY` `` naming another row of the section; or
//!   `—` (no bounds: the values tried are all accepted). A `json` block
//!   there shows the defaults.
//! - **Errors.** Every `UPPER_CASE` word in backticks on the page is a code
//!   of the framework's catalog or of [`Mode::ERROR_CODES`]. `## Errors` has
//!   a row ``| number | `NAME` | when | … |`` for exactly each of the mode's
//!   codes, in order, and a row `` | `intent` | codes | `` for each intent,
//!   naming the codes its section's `Errors:` paragraph names. With
//!   [`Page::rejections`], a scenario that provokes each rejection: it
//!   must pass, and each intent's row must be exactly the codes it provokes
//!   with that intent, but for those of the paragraph "Any intent can also
//!   be refused …" (which must name `NOT_IN_ROOM`).
//!
//! No I/O: the caller reads the page. The helpers ([`section`],
//! [`json_blocks`], [`rows`], [`field_order`], [`codes_in`], [`example`], …)
//! are public for a mode's own extra checks.

use crate::registry::{Modes, mode};
use crate::scenario;
use crate::{Mode, Viewer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use tickroom_protocol::walk::{Variant, check_value, variant_of};
use tickroom_protocol::{
    ClientMessage, Codec, Delta, DetailValue, DomainEvent, ErrorCode, Event, EventRecord, Limits,
    ModeCode, Payload, RoomConfig, RoomId, RoomState, ServerMessage,
};

/// The header of a state section's table of types.
const TYPES_HEADER: &str = "| type | fields, in order |";

/// A mode's page and what to hold it to. See the module docs.
pub struct Page<'a, M: Mode> {
    text: &'a str,
    intents: Vec<M::Intent>,
    events: Vec<M::Event>,
    types: Vec<(String, Vec<String>)>,
    enums: Vec<String>,
    rejections: Option<&'a str>,
}

impl<'a, M: Mode> Page<'a, M>
where
    M::View: DeserializeOwned + Clone,
{
    /// The page's text, with one sample of every intent and every event
    /// variant, in variant order.
    pub fn new(text: &'a str, intents: Vec<M::Intent>, events: Vec<M::Event>) -> Self {
        Page {
            text,
            intents,
            events,
            types: Vec::new(),
            enums: Vec::new(),
            rejections: None,
        }
    }

    /// A type of the state or the events, with its row in the state's
    /// table of types: `sample`'s fields, in order.
    pub fn type_fields<T: Serialize>(mut self, name: &str, sample: &T) -> Self {
        self.types.push((name.to_owned(), field_order(sample)));
        self
    }

    /// A unit-only enum, with its row ``| `Name` | `a`, `b` |``: every
    /// value, in variant order.
    pub fn unit_enum<T: Serialize>(mut self, name: &str, values: &[T]) -> Self {
        let names: Vec<String> = values
            .iter()
            .map(|v| match serde_json::to_value(v) {
                Ok(serde_json::Value::String(s)) => format!("`{s}`"),
                other => format!("{other:?}"),
            })
            .collect();
        self.enums
            .push(format!("| `{name}` | {} |", names.join(", ")));
        self
    }

    /// A scenario (its text) that provokes every rejection the errors
    /// table lists: each line `CLIENT INTENT … !CODE`.
    pub fn rejections(mut self, scenario: &'a str) -> Self {
        self.rejections = Some(scenario);
        self
    }

    /// Everything the page gets wrong, one line each; empty when it is
    /// true to the mode.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.samples(&mut p);
        self.examples(&mut p);
        self.headings(&mut p);
        self.fields(&mut p);
        self.intent_table(&mut p);
        self.state(&mut p);
        self.config(&mut p);
        self.errors(&mut p);
        if let Some(scenario) = self.rejections {
            self.rules(scenario, &mut p);
        }
        p
    }

    /// The samples are one of each variant, in order (every variant serde
    /// declares), and the intents' are `M::INTENTS`.
    fn samples(&self, p: &mut Vec<String>) {
        let intents: Vec<&str> = M::INTENTS.iter().map(|s| s.name).collect();
        if variant_names::<M::Intent>() != Some(&intents[..]) {
            p.push(format!(
                "INTENTS is {intents:?}, the intent's variants {:?}",
                variant_names::<M::Intent>()
            ));
        }
        let intent_tags: Vec<Option<String>> = self.intents.iter().map(json_tag).collect();
        let event_tags: Vec<Option<String>> = self.events.iter().map(json_tag).collect();
        for (kind, tags, variants) in [
            ("intent", intent_tags, variant_names::<M::Intent>()),
            ("event", event_tags, variant_names::<M::Event>()),
        ] {
            let want = variants.map(|v| v.iter().map(|n| Some(n.to_string())).collect());
            if want.as_ref() != Some(&tags) {
                p.push(format!(
                    "the {kind} samples are {tags:?}, not one of each of {variants:?} in order"
                ));
            }
        }
        let indexes = self.intents.iter().map(serde_index);
        let indexes = indexes.chain(self.events.iter().map(serde_index));
        let places = (0..self.intents.len()).chain(0..self.events.len());
        if indexes.zip(places).any(|(index, i)| index != Some(i)) {
            p.push("a sample's variant index is not its place".into());
        }
    }

    /// Every `json` block is the mode's, byte for byte.
    fn examples(&self, p: &mut Vec<String>) {
        if let Err(e) = ModeCode::register(M::ERROR_CODES) {
            p.push(format!("the mode's error codes: {e}"));
        }
        let (blocks, unterminated) = json_blocks_of(self.text);
        if unterminated {
            p.push("an unterminated json block".into());
        }
        let least = self.intents.len() + self.events.len() + 2;
        if blocks.len() < least {
            p.push(format!(
                "only {} json examples (at least {least})",
                blocks.len()
            ));
        }
        for block in &blocks {
            if example::<M>(block).is_none() {
                p.push(format!(
                    "this example does not decode to the mode's types and re-encode \
                     to the same bytes:\n{block}\nre-encoded: {:?}",
                    serde_json::from_str::<serde_json::Value>(block).map(|v| v.to_string())
                ));
            }
        }
    }

    /// The heading of every variant, each with its example; no others.
    fn headings(&self, p: &mut Vec<String>) {
        // Each variant's tag, and the tags of what a block shows of its kind.
        let shows_intents = |b: &str| intents_in::<M>(b).iter().filter_map(json_tag).collect();
        let shows_events = |b: &str| events_in::<M>(b).iter().filter_map(json_tag).collect();
        let intents = self.intents.iter().map(|v| ("intent", json_tag(v)));
        let events = self.events.iter().map(|v| ("event", json_tag(v)));
        let mut want = BTreeSet::new();
        for (i, (kind, tag)) in intents.enumerate().chain(events.enumerate()) {
            let Some(tag) = tag else { continue };
            want.insert(heading(&tag, i));
            let Some(text) = self.section(&heading(&tag, i), p) else {
                continue;
            };
            let shows: fn(&str) -> Vec<String> = if kind == "intent" {
                shows_intents
            } else {
                shows_events
            };
            if !json_blocks(text).iter().any(|b| shows(b).contains(&tag)) {
                p.push(format!("{kind} `{tag}` has no example in its section"));
            }
        }
        for line in self.text.lines().filter(|l| l.starts_with("#### ")) {
            if !want.contains(line) {
                p.push(format!("`{line}` is no variant of the mode's"));
            }
        }
        for tag in DomainEvent::NAMES {
            if self.text.contains(&format!("#### `{tag}`")) {
                p.push(format!(
                    "the framework's `{tag}` has a heading (protocol.md's)"
                ));
            }
        }
    }

    /// Every variant's table of exactly its fields, in order; integers
    /// give their width.
    fn fields(&self, p: &mut Vec<String>) {
        let intents = self
            .intents
            .iter()
            .map(|v| (to_json(v), variant_field_order(v)));
        let events = self
            .events
            .iter()
            .map(|v| (to_json(v), variant_field_order(v)));
        for (i, (json, declared)) in intents.enumerate().chain(events.enumerate()) {
            let Some((tag, fields)) = json
                .as_object()
                .and_then(|o| o.iter().next())
                .and_then(|(tag, f)| Some((tag, f.as_object()?)))
            else {
                p.push(format!("{json} is no struct variant"));
                continue;
            };
            let Some(own) = section(self.text, &heading(tag, i)) else {
                continue; // reported with the headings
            };
            let table = rows(own);
            if fields.is_empty() {
                if !table.is_empty() {
                    p.push(format!("{tag} has no fields but a table"));
                }
                if !own.contains("No fields") {
                    p.push(format!("{tag} does not say it has \"No fields\""));
                }
                continue;
            }
            if row_names(own) != declared {
                p.push(format!(
                    "the field table of {tag} is {:?}, not its fields in order {declared:?}",
                    row_names(own)
                ));
            }
            for (name, value) in fields {
                let ty = table.get(name).and_then(|c| c.first());
                let width = ["u8", "u16", "u32", "u64", "i32", "i64"]
                    .iter()
                    .any(|w| ty.is_some_and(|t| t.starts_with(w)));
                if value.is_number() && !width {
                    p.push(format!("{tag}.{name}: `{ty:?}` gives no integer width"));
                }
            }
        }
    }

    /// The intent table is `M::INTENTS`, and each intent's section says
    /// whether it is durable and audited.
    fn intent_table(&self, p: &mut Vec<String>) {
        let Some(text) = self.section("## Intents", p) else {
            return;
        };
        let table: Vec<Vec<String>> = table_rows(text)
            .into_iter()
            .filter(|r| r.len() == 5 && r[1].parse::<usize>().is_ok())
            .collect();
        if table.len() != M::INTENTS.len() {
            p.push(format!(
                "the intent table has {} rows for {} intents",
                table.len(),
                M::INTENTS.len()
            ));
        }
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        for (i, spec) in M::INTENTS.iter().enumerate() {
            let rate = serde_json::to_value(spec.rate).unwrap_or_default();
            let want = vec![
                format!("`{}`", spec.name),
                i.to_string(),
                format!("`{}`", rate.as_str().unwrap_or_default()),
                yes_no(spec.durable).to_owned(),
                yes_no(spec.audited).to_owned(),
            ];
            if table.get(i) != Some(&want) {
                p.push(format!(
                    "row {i} of the intent table is {:?}, not {want:?}",
                    table.get(i)
                ));
            }
            let Some(own) = section(self.text, &heading(spec.name, i)) else {
                continue; // reported with the headings
            };
            let own = own.to_lowercase();
            if own.contains("durable") != spec.durable {
                p.push(format!(
                    "the section of `{}` says \"durable\" iff it is ({})",
                    spec.name, spec.durable
                ));
            }
            if own.contains("audit") != spec.audited {
                p.push(format!(
                    "the section of `{}` says \"audit\" iff it is audited ({})",
                    spec.name, spec.audited
                ));
            }
        }
    }

    /// The state's fields in order, its types, the unit enums.
    fn state(&self, p: &mut Vec<String>) {
        for row in &self.enums {
            if !self.text.lines().any(|l| l == row) {
                p.push(format!("missing row:\n{row}"));
            }
        }
        let Some(text) = self.section("## State", p) else {
            return;
        };
        let (fields, types) = text.split_once(TYPES_HEADER).unwrap_or((text, ""));
        match new_room_view::<M>() {
            Ok(view) if row_names(fields) != field_order(&view) => p.push(format!(
                "the state's rows are {:?}, not its fields in order {:?}",
                row_names(fields),
                field_order(&view)
            )),
            Ok(_) => {}
            Err(e) => p.push(format!("no view of a new room: {e}")),
        }
        let table = rows(types);
        let documented: BTreeSet<&String> = table.keys().collect();
        let given: BTreeSet<&String> = self.types.iter().map(|(t, _)| t).collect();
        if documented != given {
            p.push(format!(
                "the table of types has {documented:?}, not {given:?}"
            ));
        }
        for (ty, fields) in &self.types {
            let Some(row) = table.get(ty).and_then(|c| c.first()) else {
                continue;
            };
            let at: Option<Vec<usize>> = fields
                .iter()
                .map(|f| row.find(&format!("`{f}: ")))
                .collect();
            let named = row
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|c| c.contains(": "))
                .count();
            let in_order = at.is_some_and(|at| at.windows(2).all(|w| w[0] < w[1]));
            if !in_order || named != fields.len() {
                p.push(format!(
                    "the row of `{ty}` is not `field: type` for exactly {fields:?}, \
                     in order: `{row}`"
                ));
            }
        }
    }

    /// Every setting, in order, with its default and the bounds
    /// `validate_config` enforces.
    fn config(&self, p: &mut Vec<String>) {
        let Some(text) = self.section("## Config", p) else {
            return;
        };
        let table = rows(text);
        let defaults = M::Config::default();
        let json = to_json(&defaults);
        let declared = field_order(&defaults);
        if row_names(text) != declared {
            p.push(format!(
                "the config rows are {:?}, not the settings in order {declared:?}",
                row_names(text)
            ));
        }
        let encoded = serde_json::to_string(&defaults).unwrap_or_default();
        if !json_blocks(text).contains(&encoded) {
            p.push(format!("no example of the default config:\n{encoded}"));
        }
        if let Err(e) = validate::<M>(&defaults) {
            p.push(format!("the default config is refused: {e:?}"));
        }
        for key in &declared {
            let Some(cells) = table.get(key) else {
                continue; // reported with the order
            };
            let default = cells.get(1).and_then(|c| c.split_whitespace().next());
            if default != Some(json[key].to_string().as_str()) {
                p.push(format!(
                    "the default of `{key}` is {:?}, not {}",
                    cells.get(1),
                    json[key]
                ));
            }
            let bounds = cells.get(2).map(String::as_str).unwrap_or_default();
            if let Some((lo, hi)) = bounds.split_once(" ..= ") {
                probe_bounds::<M>(key, (lo, hi), &table, p);
            } else if let Some(other) = bounds
                .strip_prefix("see `")
                .and_then(|b| b.strip_suffix('`'))
            {
                let row = |t: &str| text.lines().any(|l| l.starts_with(t));
                if !row(&format!("| `{other}` |")) && !row(&format!("| (`{other}`) |")) {
                    p.push(format!("`{key}`: no row for `{other}`"));
                }
            } else if bounds == "—" {
                for v in [i64::MIN, -1, 0, 1, 255, 65_535, 4_294_967_295, i64::MAX] {
                    if let Some(c) = with(&defaults, key, v)
                        && validate::<M>(&c).is_err()
                    {
                        p.push(format!("`{key}` has no bounds, but {v} is refused"));
                    }
                }
            } else {
                p.push(format!(
                    "the bounds of `{key}` are neither `MIN ..= MAX`, `see `KEY``, nor `—`: \
                     `{bounds}`"
                ));
            }
        }
    }

    /// Every code named is real; the mode's codes table; each intent's
    /// row and its section's `Errors:` paragraph.
    fn errors(&self, p: &mut Vec<String>) {
        let known: BTreeSet<&str> = ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .chain(M::ERROR_CODES.iter().map(|e| e.name))
            .collect();
        for code in codes_in(self.text) {
            if !known.contains(code.as_str()) {
                p.push(format!("`{code}` is no error code"));
            }
        }
        let Some(text) = self.section("## Errors", p) else {
            return;
        };
        let numbered: Vec<Vec<String>> = table_rows(text)
            .into_iter()
            .filter(|r| r[0].parse::<u16>().is_ok())
            .collect();
        if numbered.len() != M::ERROR_CODES.len() {
            p.push(format!(
                "the errors table has {} numbered codes for the mode's {}",
                numbered.len(),
                M::ERROR_CODES.len()
            ));
        }
        for (row, e) in numbered.iter().zip(M::ERROR_CODES) {
            let want = [e.number.to_string(), format!("`{}`", e.name), e.when.into()];
            if row.get(..3) != Some(&want[..]) {
                p.push(format!("the row of `{}` is {row:?}, not {want:?}", e.name));
            }
        }
        let table = rows(text);
        for (i, spec) in M::INTENTS.iter().enumerate() {
            let Some(listed) = table.get(spec.name).and_then(|c| c.first()) else {
                p.push(format!("`{}` has no row in the errors table", spec.name));
                continue;
            };
            let listed = codes_in(listed);
            if listed.is_empty() {
                p.push(format!("the row of `{}` names no code", spec.name));
            }
            let Some(own) = section(self.text, &heading(spec.name, i)) else {
                continue; // reported with the headings
            };
            match own.split("\n\n").find(|p| p.starts_with("Errors:")) {
                Some(paragraph) if codes_in(paragraph) != listed => p.push(format!(
                    "`{}`: its Errors: paragraph names {:?}, its row {listed:?}",
                    spec.name,
                    codes_in(paragraph)
                )),
                Some(_) => {}
                None => p.push(format!("`{}` has no Errors: paragraph", spec.name)),
            }
        }
    }

    /// The errors table is what the rules answer: each intent's row is
    /// exactly the codes the scenario provokes with it, but for those any
    /// intent can get (which a row may repeat when the rules answer them
    /// too).
    fn rules(&self, text: &str, p: &mut Vec<String>) {
        let mut modes = Modes::empty();
        if let Err(e) = modes.add(mode::<M>()) {
            p.push(format!("the mode: {e}"));
            return;
        }
        match scenario::parse_with(text, &modes) {
            Ok(parsed) => p.extend(
                scenario::run(&parsed)
                    .failures
                    .into_iter()
                    .map(|f| format!("the rejections scenario: {f}")),
            ),
            Err(e) => {
                p.push(format!("the rejections scenario: {e}"));
                return;
            }
        }
        let names: BTreeSet<&str> = M::INTENTS.iter().map(|s| s.name).collect();
        let mut provoked: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ([_, verb, ..], Some(code)) = (
                words.as_slice(),
                words.last().and_then(|w| w.strip_prefix('!')),
            ) && names.contains(verb)
            {
                provoked.entry(verb).or_default().insert(code.to_owned());
            }
        }
        let Some(errors) = section(self.text, "## Errors") else {
            return; // reported with the errors
        };
        let Some(any) = errors
            .split("\n\n")
            .find(|p| p.starts_with("Any intent can also be refused"))
            .map(codes_in)
        else {
            p.push("no paragraph \"Any intent can also be refused …\"".into());
            return;
        };
        if !any.contains("NOT_IN_ROOM") {
            p.push("the codes any intent can get name no `NOT_IN_ROOM`".into());
        }
        let table = rows(errors);
        for spec in M::INTENTS {
            let listed = table
                .get(spec.name)
                .and_then(|c| c.first())
                .map(|c| codes_in(c))
                .unwrap_or_default();
            let got = provoked.remove(spec.name).unwrap_or_default();
            let unlisted: BTreeSet<&String> = got
                .iter()
                .filter(|c| !listed.contains(*c) && !any.contains(*c))
                .collect();
            if !unlisted.is_empty() {
                p.push(format!(
                    "`{}` answers {unlisted:?}, which its row does not list",
                    spec.name
                ));
            }
            let unseen: BTreeSet<&String> = listed.iter().filter(|c| !got.contains(*c)).collect();
            if !unseen.is_empty() {
                p.push(format!(
                    "the row of `{}` lists {unseen:?}, which the scenario does not provoke",
                    spec.name
                ));
            }
        }
    }

    /// [`section`], or a problem.
    fn section(&self, heading: &str, p: &mut Vec<String>) -> Option<&'a str> {
        let found = section(self.text, heading);
        if found.is_none() {
            p.push(format!("no heading {heading:?}"));
        }
        found
    }
}

fn heading(tag: &str, index: usize) -> String {
    format!("#### `{tag}` (index {index})")
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// The JSON tag of an externally tagged value: its only key.
fn json_tag<T: Serialize>(v: &T) -> Option<String> {
    match to_json(v) {
        serde_json::Value::Object(map) if map.len() == 1 => map.keys().next().cloned(),
        _ => None,
    }
}

/// The variants of an enum, in order, as its derived `Deserialize`
/// declares them (their names on the wire); `None` for anything else.
pub use tickroom_protocol::walk::variant_names;

/// The serde variant index: what postcard writes.
fn serde_index<T: Serialize>(v: &T) -> Option<usize> {
    match variant_of(v) {
        Some(Variant::Both { index, .. }) => Some(index as usize),
        _ => None,
    }
}

fn validate<M: Mode>(config: &M::Config) -> Result<(), tickroom_protocol::ErrorBody> {
    M::validate_config(&RoomConfig::default(), config)
}

/// What a member of a new room with the default config is sent (all of
/// it).
fn new_room_view<M: Mode>() -> Result<M::View, String>
where
    M::View: DeserializeOwned + Clone,
{
    let config = RoomConfig {
        mode: M::NAME.into(),
        game: Payload::of(M::Config::default()),
        ..RoomConfig::default()
    };
    let room = mode::<M>()
        .create(RoomId::from("docs"), config, 1)
        .map_err(|e| e.message)?;
    room.state_for(Viewer::All)
        .game
        .decode()
        .map_err(|e| e.to_string())
}

/// A config with `key` set to `value`, when the value fits the key's type.
fn with<C: Serialize + DeserializeOwned>(base: &C, key: &str, value: i64) -> Option<C> {
    let mut json = to_json(base);
    *json.get_mut(key)? = value.into();
    serde_json::from_value(json).ok()
}

/// A bound as a page writes it: a number, or another key in backticks
/// (its value in `config`).
fn bound<C: Serialize>(text: &str, config: &C) -> Result<i64, String> {
    match text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        Some(key) => to_json(config)[key]
            .as_i64()
            .ok_or_else(|| format!("bound `{key}` is no setting")),
        None => text
            .parse()
            .map_err(|_| format!("bound `{text}` is no number")),
    }
}

/// `key`'s bounds `lo ..= hi`: each is accepted, one past each is refused
/// with `INVALID_CONFIG` naming the key and the same range. A bound that
/// names another key is tried at that key's default and at the largest
/// value it may take.
fn probe_bounds<M: Mode>(
    key: &str,
    (lo, hi): (&str, &str),
    table: &BTreeMap<String, Vec<String>>,
    p: &mut Vec<String>,
) {
    let defaults = M::Config::default();
    let mut bases = vec![defaults.clone()];
    for other in [lo, hi] {
        let Some(k) = other.strip_prefix('`').and_then(|t| t.strip_suffix('`')) else {
            continue;
        };
        let max = table
            .get(k)
            .and_then(|c| c.get(2))
            .and_then(|b| b.split_once(" ..= "))
            .map(|(_, max)| bound(max, &defaults))
            .and_then(Result::ok)
            .and_then(|max| with(&defaults, k, max));
        match max {
            Some(c) => bases.push(c),
            None => p.push(format!("`{key}`: `{k}` has no largest value")),
        }
    }
    for base in bases {
        let (min, max) = match (bound(lo, &base), bound(hi, &base)) {
            (Ok(min), Ok(max)) => (min, max),
            (Err(e), _) | (_, Err(e)) => {
                p.push(format!("the bounds of `{key}`: {e}"));
                return;
            }
        };
        for ok in [min, max] {
            match with(&base, key, ok).map(|c| validate::<M>(&c)) {
                Some(Ok(())) => {}
                Some(Err(e)) => p.push(format!("`{key}` = {ok} is allowed, but: {e:?}")),
                None => p.push(format!("`{key}` = {ok} does not fit the setting's type")),
            }
        }
        for bad in [min.saturating_sub(1), max.saturating_add(1)] {
            let Some(c) = with(&base, key, bad) else {
                continue; // outside the key's type: not a config at all
            };
            let want = (
                ErrorCode::InvalidConfig,
                Some(DetailValue::Text(key.to_owned())),
                Some(DetailValue::Int(min)),
                Some(DetailValue::Int(max)),
            );
            let refused = validate::<M>(&c).err();
            let named = refused.as_ref().map(|e| {
                let detail = |k: &str| e.details.get(k).cloned();
                (e.code, detail("key"), detail("min"), detail("max"))
            });
            if named != Some(want) {
                p.push(format!(
                    "`{key}` = {bad} is refused with INVALID_CONFIG naming `{key}` and \
                     {min} ..= {max}, but: {}",
                    refused.map_or("it is accepted".into(), |e| format!("{e:?}"))
                ));
            }
        }
    }
}

// ------------------------------------------------------------------ examples

/// What a `json` block is, once decoded and typed.
pub enum Example<M: Mode> {
    Client(ClientMessage),
    Server(ServerMessage),
    Intent(M::Intent),
    Event(M::Event),
    State(M::View),
    Config(M::Config),
}

impl<M: Mode> fmt::Debug for Example<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Example::Client(m) => f.debug_tuple("Client").field(m).finish(),
            Example::Server(m) => f.debug_tuple("Server").field(m).finish(),
            Example::Intent(i) => f.debug_tuple("Intent").field(i).finish(),
            Example::Event(e) => f.debug_tuple("Event").field(e).finish(),
            Example::State(s) => f.debug_tuple("State").field(s).finish(),
            Example::Config(c) => f.debug_tuple("Config").field(c).finish(),
        }
    }
}

/// Decodes an example as a framework message (its payloads decoded as the
/// mode's types) or as one of the mode's values, and re-encodes it: `None`
/// unless that gives back exactly the same bytes, within the frame limits,
/// and a rejection names a framework code or one of the mode's (which this
/// registers in the process's catalog, as serving the mode does).
pub fn example<M: Mode>(text: &str) -> Option<Example<M>>
where
    M::View: DeserializeOwned + Clone,
{
    let _ = ModeCode::register(M::ERROR_CODES);
    let (c, s) = (&Limits::CLIENT_FRAMES, &Limits::SERVER_FRAMES);
    if let Ok(m) = Codec::Json.decode::<ClientMessage>(text.as_bytes(), c) {
        let m = typed_client::<M>(m)?;
        return same(&m, text, c).then_some(Example::Client(m));
    }
    if let Ok(m) = Codec::Json.decode::<ServerMessage>(text.as_bytes(), s) {
        let m = typed_server::<M>(m)?;
        return same(&m, text, s).then_some(Example::Server(m));
    }
    None.or_else(|| bare(text, c).map(Example::Intent))
        .or_else(|| bare(text, s).map(Example::Event))
        .or_else(|| bare(text, s).map(Example::State))
        .or_else(|| bare(text, c).map(Example::Config))
}

/// The intents a block shows: a bare intent, or an `intent` message.
fn intents_in<M: Mode>(block: &str) -> Vec<M::Intent>
where
    M::View: DeserializeOwned + Clone,
{
    match example::<M>(block) {
        Some(Example::Intent(i)) => vec![i],
        Some(Example::Client(ClientMessage::Intent { intent, .. })) => {
            intent.decode().into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// The events a block shows: a bare event (also when it reads as an
/// intent of the same name), or the mode's events in a delta.
fn events_in<M: Mode>(block: &str) -> Vec<M::Event>
where
    M::View: DeserializeOwned + Clone,
{
    if let Some(e) = bare::<M::Event>(block, &Limits::SERVER_FRAMES) {
        return vec![e];
    }
    match example::<M>(block) {
        Some(Example::Server(ServerMessage::Delta(d))) => d
            .events
            .iter()
            .filter_map(|r| r.event.decode_game::<M::Event>())
            .collect(),
        _ => Vec::new(),
    }
}

/// `value` written as compact JSON is exactly `text`, and its strings and
/// lists are inside the limits.
fn same<T: Serialize>(value: &T, text: &str, limits: &Limits) -> bool {
    serde_json::to_string(value).is_ok_and(|t| t == text) && check_value(value, limits).is_ok()
}

fn bare<T: DeserializeOwned + Serialize>(text: &str, limits: &Limits) -> Option<T> {
    let value: T = serde_json::from_str(text).ok()?;
    same(&value, text, limits).then_some(value)
}

fn typed_config<M: Mode>(c: RoomConfig) -> Option<RoomConfig> {
    if c.game.is_empty() {
        return Some(c);
    }
    let game: M::Config = c.game.decode().ok()?;
    Some(RoomConfig {
        game: Payload::of(game),
        ..c
    })
}

fn typed_state<M: Mode>(s: RoomState) -> Option<RoomState>
where
    M::View: DeserializeOwned + Clone,
{
    let game: M::View = s.game.decode().ok()?;
    Some(RoomState {
        game: Payload::of(game),
        ..s
    })
}

fn typed_event<M: Mode>(e: Event) -> Option<Event> {
    match e {
        Event::Room(r) => Some(Event::Room(r)),
        Event::Game(p) => p.decode::<M::Event>().ok().map(Event::game),
    }
}

/// A framework code, or one of the mode's.
fn known_code<M: Mode>(code: ErrorCode) -> bool {
    ErrorCode::ALL.contains(&code)
        || M::ERROR_CODES
            .iter()
            .any(|e| code == ErrorCode::Mode(ModeCode(e.number)))
}

/// The message with every mode payload decoded as the mode's type and
/// wrapped again, typed; `None` when a payload is none of the mode's
/// values.
fn typed_client<M: Mode>(m: ClientMessage) -> Option<ClientMessage> {
    Some(match m {
        ClientMessage::Intent { seq, intent } => {
            let intent: M::Intent = intent.decode().ok()?;
            check_value(&intent, &Limits::CLIENT_FRAMES).ok()?;
            ClientMessage::intent(seq, intent)
        }
        ClientMessage::CreateRoom {
            seq,
            room,
            config,
            private,
        } => ClientMessage::CreateRoom {
            seq,
            room,
            config: typed_config::<M>(config)?,
            private,
        },
        other => other,
    })
}

/// See [`typed_client`]; `None` too when a rejection's code is no known
/// code.
fn typed_server<M: Mode>(m: ServerMessage) -> Option<ServerMessage>
where
    M::View: DeserializeOwned + Clone,
{
    Some(match m {
        ServerMessage::Joined {
            seq,
            room,
            member,
            config,
            epoch,
            state,
        } => ServerMessage::Joined {
            seq,
            room,
            member,
            config: typed_config::<M>(config)?,
            epoch,
            state: typed_state::<M>(state)?,
        },
        ServerMessage::Delta(d) => ServerMessage::Delta(Delta {
            events: d
                .events
                .into_iter()
                .map(|r| {
                    Some(EventRecord {
                        event: typed_event::<M>(r.event)?,
                        ..r
                    })
                })
                .collect::<Option<_>>()?,
            ..d
        }),
        ServerMessage::Reject { code, .. } if !known_code::<M>(code) => return None,
        other => other,
    })
}

// ------------------------------------------------------------------- reading

/// The text under `heading` (a whole line), up to the next heading of any
/// level.
pub fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let at = doc.match_indices(heading).map(|(at, _)| at).find(|&at| {
        (at == 0 || doc.as_bytes()[at - 1] == b'\n') && doc[at + heading.len()..].starts_with('\n')
    })?;
    let rest = &doc[at + heading.len()..];
    Some(&rest[..rest.find("\n#").unwrap_or(rest.len())])
}

/// The fenced `json` blocks in `text`, trimmed (an unterminated last one
/// left out).
pub fn json_blocks(text: &str) -> Vec<String> {
    json_blocks_of(text).0
}

/// The blocks, and whether the last one is unterminated.
fn json_blocks_of(text: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == "```json" => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                out.push(block.trim().to_owned());
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    (out, current.is_some())
}

/// The cells of the table rows in `text`, split on `|`, trimmed, without
/// the empty first and last cells.
pub fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.len() > 1 && l.starts_with('|') && l.ends_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells[1..cells.len() - 1]
                .iter()
                .map(|c| c.to_string())
                .collect()
        })
        .collect()
}

/// Rows whose first cell is a backticked name: name → the other cells.
pub fn rows(text: &str) -> BTreeMap<String, Vec<String>> {
    table_rows(text)
        .into_iter()
        .filter_map(|cells| {
            let name = cells[0].strip_prefix('`')?.strip_suffix('`')?.to_owned();
            Some((name, cells[1..].to_vec()))
        })
        .collect()
}

/// The backticked names in the first column of the tables in `text`, in
/// order.
pub fn row_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The `SCREAMING_SNAKE` words in backticks (`FORBIDDEN` included): the
/// error codes a text names.
pub fn codes_in(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.len() > 3
                && w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .map(str::to_owned)
        .collect()
}

/// The keys of a JSON object in the order they are written.
struct OrderedKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for OrderedKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    out.push(key);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Keys).map(OrderedKeys)
    }
}

/// The fields of `value` (a struct) in declaration order: the order serde
/// writes them in, and postcard's. Empty for anything but a struct.
pub fn field_order<T: Serialize>(value: &T) -> Vec<String> {
    serde_json::to_string(value)
        .ok()
        .and_then(|text| serde_json::from_str::<OrderedKeys>(&text).ok())
        .map(|k| k.0)
        .unwrap_or_default()
}

/// The fields of an enum value's struct variant, in declaration order.
pub fn variant_field_order<T: Serialize>(value: &T) -> Vec<String> {
    serde_json::to_string(value)
        .ok()
        .and_then(|text| serde_json::from_str::<BTreeMap<String, OrderedKeys>>(&text).ok())
        .and_then(|outer| outer.into_values().next())
        .map(|k| k.0)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::Board;
    use tickroom_protocol::board;

    const PAGE: &str = "\
# A page

## Intents

| intent | index | rate class | durable | audited |
|---|---|---|---|---|
| `chat` | 7 | `chat` | no | no |

#### `chat` (index 7)

| field | type | meaning |
|---|---|---|
| `text` | string | the text |

```json
{\"chat\":{\"text\":\"hi\"}}
```

Errors: `FIELD_TOO_LONG`, `NO_SUCH_CODE`.
";

    #[test]
    fn the_reading_helpers_read_a_page() {
        let own = section(PAGE, "#### `chat` (index 7)").unwrap();
        assert!(own.contains("Errors:") && !own.contains("## Intents"));
        assert_eq!(section(PAGE, "#### `chat`"), None, "a whole line");
        assert_eq!(json_blocks(PAGE), [r#"{"chat":{"text":"hi"}}"#]);
        assert!(json_blocks_of("```json\n{}\n").1);
        assert_eq!(row_names(own), ["text"]);
        assert_eq!(rows(own)["text"], ["string", "the text"]);
        assert_eq!(
            codes_in(own).into_iter().collect::<Vec<_>>(),
            ["FIELD_TOO_LONG", "NO_SUCH_CODE"]
        );
        let config = board::Config::default();
        assert_eq!(
            field_order(&config)[..2],
            ["pieces_per_team", "neutral_pieces"]
        );
        let names: Vec<&str> = board::INTENTS.iter().map(|s| s.name).collect();
        assert_eq!(variant_names::<board::Intent>(), Some(&names[..]));
        assert_eq!(variant_names::<board::Config>(), None);
        let intent = board::Intent::MovePiece {
            piece: tickroom_protocol::PieceId(1),
            to: tickroom_protocol::Pos::new(1, 2),
        };
        assert_eq!(variant_field_order(&intent), ["piece", "to"]);
    }

    #[test]
    fn the_examples_are_the_modes_byte_for_byte() {
        assert!(matches!(
            example::<Board>(r#"{"chat":{"text":"hi"}}"#),
            Some(Example::Intent(_))
        ));
        for bad in [
            r#"{"chat": {"text":"hi"}}"#,
            r#"{"chat":{"text":"hi","colour":"red"}}"#,
            r#"{"place":{"cell":4}}"#,
        ] {
            assert!(example::<Board>(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_page_that_is_not_true_has_problems() {
        let problems = Page::<Board>::new(PAGE, Vec::new(), Vec::new()).problems();
        for want in [
            "the event samples are [], not one of each of Some([\"piece_moved\", \
             \"lock_taken\", \"lock_renewed\", \"lock_released\", \"formation_saved\", \
             \"formation_applied\", \"dice_rolled\", \"chat_posted\"]) in order",
            "`#### `chat` (index 7)` is no variant of the mode's",
            "`NO_SUCH_CODE` is no error code",
            "no heading \"## Config\"",
        ] {
            assert!(problems.iter().any(|p| p == want), "{want}: {problems:#?}");
        }
    }
}
