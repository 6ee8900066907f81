//! The inputs of one logged tick, packed into that tick's `ticks` row.
//!
//! The store thread's cost is per row (statement steps, B-tree inserts, WAL
//! pages touched), and a busy room logs about ten inputs a tick: one row per
//! tick instead of one per input is most of the store's CPU saved. Readers
//! only ever read a room's log by tick range, so nothing needs the inputs as
//! rows of their own.
//!
//! The first byte of a blob is its format; the row's `input_count` column
//! repeats the number of inputs so that counts need no decoding and a
//! damaged blob is caught. A blob whose format, length or contents do not
//! match its row is a `Corrupt` error, never a guess. This build writes
//! format 2 and reads 1 and 2.
//!
//! **Format 1** (written until 2026-12): the postcard encoding of the
//! tick's inputs in processing order, each laid out as `InputV1` (index,
//! member, seq, kind, code, input, outcome, trace id), about 50 bytes for a
//! move: the kind name, the member and seq twice (once inside the encoded
//! input) and a random-looking 64-bit trace id in every input.
//!
//! **Format 2** stores the same `InputRow`s, losslessly, in about a
//! quarter of that (about 11 bytes for a move in a busy room):
//!
//! ```text
//! blob    = 2, varint row_flags, input * input_count (the row's column)
//! row_flags bit 0: every input carries its index (else index = position)
//! input   = header, [varint class - 15], [varint index], [class],
//!           [varint member], [seq], [trace], varint len, rest
//! header  = bit 0 member, bit 1 seq, bit 2 trace present; bit 3 the
//!           input's encoding began with its own member and seq (postcard
//!           Option<u32>, Option<u64>: the server's `Input` does) and they
//!           were left out; bits 4-7 the class number, 15 = past 14
//! class   = kind, code, outcome and the first bytes of the input, shared
//!           by the inputs of the row that have them all in common.
//!           Numbers 0-13 are `PRESETS` (the common kinds, applied); the
//!           next class is written where it is first used, and numbered
//!           14, 15, ... in that order:
//!           varint kind (0 = a string follows, k = KINDS[k - 1]),
//!           code (0 | 1 string), outcome (bytes), input prefix (bytes)
//! seq     = the row's first: varint; later: the difference from the
//!           previous seq in the row (wrapping, zigzag varint)
//! trace   = the row's first: 8 bytes little-endian; later: the difference
//!           from the previous trace id, like seq. Trace ids are consecutive
//!           within a server process (`src/driver/trace.rs`), so a later one
//!           costs a byte or two, not nine
//! input   = [own member and seq, when bit 3] ++ class prefix ++ rest
//! string, bytes = varint length, then the bytes
//! ```
//!
//! Varints are LEB128 (7 bits a byte, low first). Both formats are frozen,
//! `KINDS` included: a change to what is stored is format 3, with the
//! decoders for 1 and 2 kept beside it (tests pin both byte for byte).

use crate::StoreError;
use crate::model::InputRow;
use serde::{Deserialize, Serialize};

/// The format this build writes.
pub const FORMAT: u8 = 2;
const FORMAT_1: u8 = 1;

/// Kind names format 2 writes as a number (`k` is `KINDS[k - 1]`): the
/// names the server logs. Frozen with the format; other names are written
/// out in full.
const KINDS: [&str; 18] = [
    "join",
    "leave",
    "disconnect",
    "reconnect",
    "grace_expired",
    "change_team",
    "move_piece",
    "take_lock",
    "renew_lock",
    "release_lock",
    "save_formation",
    "apply_formation",
    "roll_dice",
    "chat",
    "start_match",
    "archive_room",
    "admin_archive",
    "admin_kick",
];

/// The classes every format 2 row starts with, numbered 0.. in this
/// order: each kind the server logs most, applied (`Outcome::Applied`
/// encodes as `[0]`), with the first bytes of its encoded `Input` after the
/// member and seq (`InputKind::Intent` is variant 6, `MovePiece` 0, …).
/// Only a dictionary: an input that matches none defines its own class, so
/// a change to those encodings costs bytes, never correctness. Frozen.
const PRESETS: [(&str, &[u8]); 14] = [
    ("move_piece", &[6, 0]),
    ("renew_lock", &[6, 2]),
    ("take_lock", &[6, 1]),
    ("release_lock", &[6, 3]),
    ("chat", &[6, 7]),
    ("roll_dice", &[6, 6]),
    ("apply_formation", &[6, 5]),
    ("save_formation", &[6, 4]),
    ("disconnect", &[2]),
    ("reconnect", &[3]),
    ("leave", &[1]),
    ("grace_expired", &[4]),
    ("change_team", &[5]),
    ("start_match", &[6, 8]),
];
const APPLIED: &[u8] = &[0];

/// The preset classes' kinds and input prefixes (after the member and
/// seq), for the server's test that its encodings still match them.
pub fn presets() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    PRESETS.iter().copied()
}

const MEMBER: u8 = 1;
const SEQ: u8 = 2;
const TRACE: u8 = 4;
const OWN_PREFIX: u8 = 8;
/// The class number 15 in the header means a varint follows.
const CLASS_ESCAPE: usize = 15;
const EXPLICIT_INDEX: u64 = 1;
/// How many input bytes (after the member and seq) a new class takes in:
/// an intent's encoding starts with two variant numbers.
const CLASS_PREFIX: usize = 2;
/// The encoder compares an input with the row's newest classes only, so a
/// row of inputs that share nothing costs linear time, not quadratic.
const CLASS_SEARCH: usize = 32;

/// One input as format 1 stores it.
#[derive(Deserialize)]
struct InputV1 {
    index: u32,
    member: Option<u32>,
    seq: Option<u64>,
    kind: String,
    code: Option<String>,
    input: Vec<u8>,
    outcome: Vec<u8>,
    trace_id: Option<u64>,
}

/// `InputV1`, borrowed for writing (the same encoding: postcard writes a
/// `&str` as a `String` and a `&[u8]` as a `Vec<u8>`).
#[derive(Serialize)]
struct InputV1Ref<'a> {
    index: u32,
    member: Option<u32>,
    seq: Option<u64>,
    kind: &'a str,
    code: Option<&'a str>,
    input: &'a [u8],
    outcome: &'a [u8],
    trace_id: Option<u64>,
}

impl<'a> From<&'a InputRow> for InputV1Ref<'a> {
    fn from(r: &'a InputRow) -> Self {
        InputV1Ref {
            index: r.index,
            member: r.member,
            seq: r.seq,
            kind: &r.kind,
            code: r.code.as_deref(),
            input: &r.input,
            outcome: &r.outcome,
            trace_id: r.trace_id,
        }
    }
}

impl From<InputV1> for InputRow {
    fn from(v: InputV1) -> Self {
        InputRow {
            index: v.index,
            member: v.member,
            seq: v.seq,
            kind: v.kind,
            code: v.code,
            input: v.input,
            outcome: v.outcome,
            trace_id: v.trace_id,
        }
    }
}

/// A tick's inputs written as a sequence of `InputV1Ref`, without
/// collecting them first.
struct AsV1<'a>(&'a [InputRow]);

impl Serialize for AsV1<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(InputV1Ref::from))
    }
}

/// Format 1, as builds before format 2 wrote it: kept so that tests and
/// the size benchmark can write what older databases hold.
pub fn pack_v1(inputs: &[InputRow]) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![FORMAT_1];
    postcard::to_io(&AsV1(inputs), &mut out).map_err(|e| corrupt(e.to_string()))?;
    Ok(out)
}

/// A class, borrowed from the presets and the row's inputs (encoding) or
/// blob (decoding).
#[derive(Clone, Copy)]
struct ClassRef<'a> {
    kind: &'a str,
    code: Option<&'a str>,
    outcome: &'a [u8],
    prefix: &'a [u8],
}

/// A row's class table: the presets, then the classes its inputs define
/// (no allocation until one does).
#[derive(Default)]
struct Classes<'a> {
    defined: Vec<ClassRef<'a>>,
}

impl<'a> Classes<'a> {
    fn len(&self) -> usize {
        PRESETS.len() + self.defined.len()
    }

    fn get(&self, n: usize) -> Option<ClassRef<'a>> {
        match PRESETS.get(n) {
            Some(&(kind, prefix)) => Some(ClassRef {
                kind,
                code: None,
                outcome: APPLIED,
                prefix,
            }),
            None => self.defined.get(n - PRESETS.len()).copied(),
        }
    }

    fn push(&mut self, class: ClassRef<'a>) {
        self.defined.push(class);
    }
}

/// The postcard encoding of `Option<u32>` then `Option<u64>`, which the
/// server's encoded `Input` begins with.
fn member_seq_prefix(member: Option<u32>, seq: Option<u64>, out: &mut Vec<u8>) {
    match member {
        Some(m) => {
            out.push(1);
            put_varint(out, u64::from(m));
        }
        None => out.push(0),
    }
    match seq {
        Some(s) => {
            out.push(1);
            put_varint(out, s);
        }
        None => out.push(0),
    }
}

/// The tick's inputs in format 2 (see the module doc).
pub fn pack(inputs: &[InputRow]) -> Result<Vec<u8>, StoreError> {
    // About 12 bytes a move; a guess that avoids most regrowth.
    let mut out = Vec::with_capacity(2 + inputs.len() * 16);
    out.push(FORMAT);
    let explicit = inputs
        .iter()
        .enumerate()
        .any(|(i, r)| r.index as usize != i);
    put_varint(&mut out, if explicit { EXPLICIT_INDEX } else { 0 });
    let mut classes = Classes::default();
    let (mut prev_seq, mut prev_trace) = (None::<u64>, None::<u64>);
    let mut own = Vec::with_capacity(16);
    for r in inputs {
        own.clear();
        member_seq_prefix(r.member, r.seq, &mut own);
        let mut header = 0u8;
        let mut rest: &[u8] = &r.input;
        if let Some(after) = rest.strip_prefix(own.as_slice()) {
            header |= OWN_PREFIX;
            rest = after;
        }
        header |= if r.member.is_some() { MEMBER } else { 0 };
        header |= if r.seq.is_some() { SEQ } else { 0 };
        header |= if r.trace_id.is_some() { TRACE } else { 0 };
        let code = r.code.as_deref();
        let fits = |c: ClassRef<'_>| {
            c.kind == r.kind
                && c.code == code
                && c.outcome == r.outcome.as_slice()
                && rest.starts_with(c.prefix)
        };
        let newest = classes
            .len()
            .saturating_sub(CLASS_SEARCH)
            .max(PRESETS.len());
        let found = (0..PRESETS.len())
            .chain((newest..classes.len()).rev())
            .find(|&n| classes.get(n).is_some_and(fits));
        let class = found.unwrap_or(classes.len());
        header |= (class.min(CLASS_ESCAPE) as u8) << 4;
        out.push(header);
        if class >= CLASS_ESCAPE {
            put_varint(&mut out, (class - CLASS_ESCAPE) as u64);
        }
        if explicit {
            put_varint(&mut out, u64::from(r.index));
        }
        if found.is_none() {
            let prefix = &rest[..rest.len().min(CLASS_PREFIX)];
            match KINDS.iter().position(|k| *k == r.kind) {
                Some(k) => put_varint(&mut out, k as u64 + 1),
                None => {
                    out.push(0);
                    put_bytes(&mut out, r.kind.as_bytes());
                }
            }
            match code {
                Some(c) => {
                    out.push(1);
                    put_bytes(&mut out, c.as_bytes());
                }
                None => out.push(0),
            }
            put_bytes(&mut out, &r.outcome);
            put_bytes(&mut out, prefix);
            classes.push(ClassRef {
                kind: &r.kind,
                code,
                outcome: &r.outcome,
                prefix,
            });
        }
        let prefix_len = classes.get(class).map_or(0, |c| c.prefix.len());
        if let Some(m) = r.member {
            put_varint(&mut out, u64::from(m));
        }
        if let Some(s) = r.seq {
            match prev_seq {
                Some(p) => put_varint(&mut out, zigzag(s.wrapping_sub(p))),
                None => put_varint(&mut out, s),
            }
            prev_seq = Some(s);
        }
        if let Some(t) = r.trace_id {
            match prev_trace {
                Some(p) => put_varint(&mut out, zigzag(t.wrapping_sub(p))),
                None => out.extend_from_slice(&t.to_le_bytes()),
            }
            prev_trace = Some(t);
        }
        put_bytes(&mut out, &rest[prefix_len..]);
    }
    Ok(out)
}

/// Decodes the inputs of `room`'s `tick`; `count` is the row's
/// `input_count`.
pub fn unpack(
    bytes: &[u8],
    count: u64,
    room: &str,
    tick: u64,
) -> Result<Vec<InputRow>, StoreError> {
    let at = |message: String| corrupt(format!("room {room} tick {tick}: {message}"));
    let inputs = match bytes.split_first() {
        Some((&FORMAT_1, body)) => unpack_v1(body).map_err(at)?,
        Some((&FORMAT, body)) => unpack_v2(body, count).map_err(at)?,
        other => {
            return Err(at(format!(
                "unknown packed inputs format {:?} (this build reads 1 and {FORMAT})",
                other.map(|(f, _)| f)
            )));
        }
    };
    if inputs.len() as u64 != count {
        return Err(at(format!(
            "{} inputs where the row says {count} inputs",
            inputs.len()
        )));
    }
    Ok(inputs)
}

fn unpack_v1(body: &[u8]) -> Result<Vec<InputRow>, String> {
    let (inputs, rest): (Vec<InputV1>, _) =
        postcard::take_from_bytes(body).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!(
            "{} inputs and {} trailing bytes",
            inputs.len(),
            rest.len()
        ));
    }
    Ok(inputs.into_iter().map(InputRow::from).collect())
}

fn unpack_v2(body: &[u8], count: u64) -> Result<Vec<InputRow>, String> {
    let mut b = Bytes { rest: body };
    // Every input takes at least two bytes (header, length of its rest).
    if count > b.rest.len() as u64 / 2 {
        return Err(format!(
            "{count} inputs cannot fit in {} bytes",
            b.rest.len()
        ));
    }
    let explicit = match b.varint()? {
        0 => false,
        EXPLICIT_INDEX => true,
        other => return Err(format!("unknown row flags {other}")),
    };
    // Borrowed from the presets and the blob: no allocation per field.
    let mut classes = Classes::default();
    let mut inputs = Vec::with_capacity(count as usize);
    let (mut prev_seq, mut prev_trace) = (None::<u64>, None::<u64>);
    for position in 0..count {
        let header = b.byte()?;
        let mut class = usize::from(header >> 4);
        if class == CLASS_ESCAPE {
            class = usize::try_from(b.varint()?)
                .ok()
                .and_then(|n| n.checked_add(CLASS_ESCAPE))
                .ok_or("class number out of range")?;
        }
        let index = if explicit {
            u32::try_from(b.varint()?).map_err(|_| "input index out of range")?
        } else {
            u32::try_from(position).map_err(|_| "input index out of range")?
        };
        if class == classes.len() {
            let kind = match b.varint()? {
                0 => b.str()?,
                k => usize::try_from(k - 1)
                    .ok()
                    .and_then(|k| KINDS.get(k))
                    .ok_or_else(|| format!("unknown kind number {k}"))?,
            };
            let code = match b.byte()? {
                0 => None,
                1 => Some(b.str()?),
                other => return Err(format!("bad code tag {other}")),
            };
            let outcome = b.bytes()?;
            let prefix = b.bytes()?;
            classes.push(ClassRef {
                kind,
                code,
                outcome,
                prefix,
            });
        }
        let c = classes
            .get(class)
            .ok_or_else(|| format!("input {position} uses class {class} of {}", classes.len()))?;
        let member = if header & MEMBER != 0 {
            Some(u32::try_from(b.varint()?).map_err(|_| "member out of range")?)
        } else {
            None
        };
        let seq = if header & SEQ != 0 {
            let v = b.varint()?;
            prev_seq = Some(prev_seq.map_or(v, |p| p.wrapping_add(unzigzag(v))));
            prev_seq
        } else {
            None
        };
        let trace_id = if header & TRACE != 0 {
            prev_trace = Some(match prev_trace {
                Some(p) => p.wrapping_add(unzigzag(b.varint()?)),
                None => u64::from_le_bytes(b.array()?),
            });
            prev_trace
        } else {
            None
        };
        let rest = b.bytes()?;
        let mut input = Vec::with_capacity(16 + c.prefix.len() + rest.len());
        if header & OWN_PREFIX != 0 {
            member_seq_prefix(member, seq, &mut input);
        }
        input.extend_from_slice(c.prefix);
        input.extend_from_slice(rest);
        inputs.push(InputRow {
            index,
            member,
            seq,
            kind: c.kind.to_owned(),
            code: c.code.map(str::to_owned),
            input,
            outcome: c.outcome.to_vec(),
            trace_id,
        });
    }
    if !b.rest.is_empty() {
        return Err(format!(
            "{} inputs and {} trailing bytes",
            inputs.len(),
            b.rest.len()
        ));
    }
    Ok(inputs)
}

fn zigzag(delta: u64) -> u64 {
    let v = delta as i64;
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> u64 {
    ((v >> 1) as i64 ^ -((v & 1) as i64)) as u64
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A format 2 body being read; every read checks what is left.
struct Bytes<'a> {
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.rest.split_first().ok_or("ends early")?;
        self.rest = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7F);
            if shift == 63 && bits > 1 {
                return Err("varint out of range".into());
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint out of range".into())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let (head, rest) = self.rest.split_first_chunk::<N>().ok_or("ends early")?;
        self.rest = rest;
        Ok(*head)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.varint()?;
        if len > self.rest.len() as u64 {
            return Err(format!("{len} bytes announced, {} left", self.rest.len()));
        }
        let (bytes, rest) = self.rest.split_at(len as usize);
        self.rest = rest;
        Ok(bytes)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|e| e.to_string())
    }
}

pub(crate) fn corrupt(message: String) -> StoreError {
    StoreError::Corrupt {
        what: "packed tick inputs",
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(index: u32) -> InputRow {
        InputRow {
            index,
            member: (index != 0).then_some(index),
            seq: Some(u64::MAX - u64::from(index)),
            kind: "move_piece".into(),
            code: (index == 2).then(|| "LOCK_HELD".into()),
            input: vec![index as u8; 33],
            outcome: vec![7; index as usize],
            trace_id: (index != 1).then_some(u64::from(index) << 40),
        }
    }

    /// An input as the server encodes it: `Input {member, seq, kind}` in
    /// postcard, here a move (`InputKind::Intent` is variant 6,
    /// `Intent::MovePiece` variant 0) or a chat line (variant 7).
    fn server_input(member: Option<u32>, seq: Option<u64>, chat: Option<&str>) -> Vec<u8> {
        move_to(member, seq, chat, (537, -3))
    }

    fn move_to(
        member: Option<u32>,
        seq: Option<u64>,
        chat: Option<&str>,
        (x, y): (i64, i64),
    ) -> Vec<u8> {
        let mut input = Vec::new();
        member_seq_prefix(member, seq, &mut input);
        match chat {
            None => {
                input.extend([6, 0]);
                put_varint(&mut input, u64::from(member.unwrap_or(0))); // piece
                put_varint(&mut input, zigzag(x as u64));
                put_varint(&mut input, zigzag(y as u64));
            }
            Some(text) => {
                input.extend([6, 7]);
                put_bytes(&mut input, text.as_bytes());
            }
        }
        input
    }

    fn mixed() -> Vec<InputRow> {
        let mut rows = vec![
            // A join: no member yet, a seq, a trace.
            InputRow {
                index: 0,
                member: None,
                seq: Some(1),
                kind: "join".into(),
                code: None,
                input: vec![0, 1, 1, 0, 3, b'b', b'o', b'b'],
                outcome: vec![1, 9],
                trace_id: Some(0x9e37_79b9_7f4a_7c15),
            },
            // A grace expiry: a member, no seq, no trace.
            InputRow {
                index: 1,
                member: Some(9),
                seq: None,
                kind: "grace_expired".into(),
                code: None,
                input: server_input(Some(9), None, None),
                outcome: vec![0],
                trace_id: None,
            },
            // An admin action: nothing but its kind and encoding.
            InputRow {
                index: 2,
                member: None,
                seq: None,
                kind: "admin_archive".into(),
                code: None,
                input: vec![],
                outcome: vec![0],
                trace_id: Some(0x9e37_79b9_7f4a_7c14),
            },
        ];
        for i in 3..40u32 {
            let m = i % 7 + 1;
            // Rejections with their code and (differing) outcomes, a kind
            // this build does not know, an input that does not begin with
            // its member and seq, a seq that wraps, a chat line.
            let (kind, code, outcome) = match i % 5 {
                0 => (
                    "move_piece",
                    Some("NOT_LOCK_OWNER".to_string()),
                    vec![3, 14, i as u8],
                ),
                1 => ("teleport", None, vec![0]),
                2 => ("chat", None, vec![0]),
                _ => ("move_piece", None, vec![0]),
            };
            let seq = if i == 20 { u64::MAX } else { u64::from(i) * 20 };
            let input = match i {
                11 => vec![1, 2, 3],
                _ if kind == "chat" => server_input(Some(m), Some(seq), Some("hello")),
                _ => server_input(Some(m), Some(seq), None),
            };
            rows.push(InputRow {
                index: i,
                member: Some(m),
                seq: Some(seq),
                kind: kind.into(),
                code,
                input,
                outcome,
                trace_id: Some(0x9e37_79b9_7f4a_7c15 + u64::from(i * 3 % 11)),
            });
        }
        rows
    }

    #[test]
    fn inputs_come_back_exactly_in_order() {
        for rows in [(0..5).map(row).collect::<Vec<_>>(), mixed()] {
            let n = rows.len() as u64;
            let bytes = pack(&rows).unwrap();
            assert_eq!(bytes[0], FORMAT);
            assert_eq!(unpack(&bytes, n, "r", 1).unwrap(), rows);
            let old = pack_v1(&rows).unwrap();
            assert_eq!(
                unpack(&old, n, "r", 1).unwrap(),
                rows,
                "format 1 still reads"
            );
        }
        assert_eq!(unpack(&pack(&[]).unwrap(), 0, "r", 1).unwrap(), vec![]);
        assert_eq!(unpack(&pack_v1(&[]).unwrap(), 0, "r", 1).unwrap(), vec![]);
    }

    #[test]
    fn indexes_other_than_the_position_and_many_classes_come_back() {
        // Indexes that skip and repeat: written out, one per input.
        let mut rows = mixed();
        rows.swap(4, 9);
        rows[0].index = 7;
        let bytes = pack(&rows).unwrap();
        assert_eq!(unpack(&bytes, rows.len() as u64, "r", 1).unwrap(), rows);

        // Every input its own class (numbers past the header's nibble and
        // past the encoder's search window), then inputs of old classes.
        let mut rows: Vec<InputRow> = (0..200u32)
            .map(|i| InputRow {
                index: i,
                member: Some(i),
                seq: Some(u64::from(i)),
                kind: format!("kind{}", i % 100),
                code: Some(format!("CODE_{}", i % 60)),
                input: server_input(Some(i), Some(u64::from(i)), None),
                outcome: vec![3, (i % 100) as u8],
                trace_id: Some(u64::from(i)),
            })
            .collect();
        rows.push(rows[0].clone());
        rows.last_mut().unwrap().index = 200;
        let bytes = pack(&rows).unwrap();
        assert_eq!(unpack(&bytes, rows.len() as u64, "r", 1).unwrap(), rows);
    }

    /// Format 1 on disk, byte by byte from postcard's rules (varint
    /// integers, 0/1 before an option's value, a length before a string or
    /// bytes). If this fails, logs stored by earlier builds would no longer
    /// decode.
    #[test]
    fn format_1_is_frozen() {
        let row = InputRow {
            index: 3,
            member: Some(4),
            seq: Some(300),
            kind: "mv".into(),
            code: None,
            input: vec![9, 8],
            outcome: vec![],
            trace_id: Some(1),
        };
        #[rustfmt::skip]
        let stored = [
            1,               // format 1
            1,               // one input
            3,               // index
            1, 4,            // member: Some(4)
            1, 0xAC, 0x02,   // seq: Some(300), varint
            2, b'm', b'v',   // kind
            0,               // code: None
            2, 9, 8,         // input
            0,               // outcome: empty
            1, 1,            // trace_id: Some(1)
        ];
        assert_eq!(pack_v1(std::slice::from_ref(&row)).unwrap(), stored);
        assert_eq!(unpack(&stored, 1, "r", 1).unwrap(), vec![row]);
    }

    /// Format 2 on disk, byte by byte from the module doc. If this fails,
    /// logs stored by this build would no longer decode: make the change
    /// format 3 instead.
    #[test]
    fn format_2_is_frozen() {
        let server_move = |index: u32, member: u8, seq: [u8; 2], trace: u64, x: u8| InputRow {
            index,
            member: Some(u32::from(member)),
            seq: Some(u64::from(seq[0] & 0x7F) | u64::from(seq[1]) << 7),
            kind: "move_piece".into(),
            code: None,
            input: vec![1, member, 1, seq[0], seq[1], 6, 0, member, x],
            outcome: vec![0],
            trace_id: Some(trace),
        };
        let rows = [
            server_move(0, 4, [0xAC, 0x02], 0x0102_0304_0506_0708, 5),
            server_move(1, 5, [0xAA, 0x02], 0x0102_0304_0506_070B, 6),
            InputRow {
                index: 2,
                member: None,
                seq: None,
                kind: "mv".into(),
                code: Some("E".into()),
                input: vec![9],
                outcome: vec![],
                trace_id: None,
            },
            InputRow {
                index: 3,
                member: None,
                seq: Some(299),
                kind: "mv".into(),
                code: Some("E".into()),
                input: vec![9, 1],
                outcome: vec![],
                trace_id: None,
            },
        ];
        #[rustfmt::skip]
        let stored = [
            2,                 // format 2
            0,                 // row flags: index = position
            0x0F,              // member, seq, trace, own prefix; class 0 (move_piece)
            4,                 //   member 4
            0xAC, 0x02,        //   seq 300
            8, 7, 6, 5, 4, 3, 2, 1, // trace id, little-endian
            2, 4, 5,           //   the rest of the input
            0x0F,              // the same, class 0
            5,                 //   member 5
            3,                 //   seq: -2, zigzag 3
            6,                 //   trace: +3, zigzag 6
            2, 5, 6,           //   the rest of the input
            0xE0,              // nothing present, not own prefix; class 14 (new)
            0, 2, b'm', b'v',  //   kind: a string
            1, 1, b'E',        //   code: Some("E")
            0,                 //   outcome: empty
            1, 9,              //   input prefix: [9]
            0,                 //   the rest of the input: empty
            0xE2,              // seq only (the input does not begin with [0, 1, 0xAB, 2]); class 14
            2,                 //   seq: +1 from the move's 298, zigzag 2
            1, 1,              //   the rest of the input: [1]
        ];
        assert_eq!(pack(&rows).unwrap(), stored);
        assert_eq!(unpack(&stored, 4, "r", 1).unwrap(), rows);
    }

    #[test]
    fn a_damaged_or_foreign_blob_is_an_error_not_a_guess() {
        for pack in [pack, pack_v1] {
            let bytes = pack(&[row(0), row(1)]).unwrap();
            for count in [1, 3] {
                let count_differs = unpack(&bytes, count, "r", 9).unwrap_err();
                assert!(
                    count_differs.to_string().contains("room r tick 9: "),
                    "{count_differs}"
                );
            }
            let mut newer = bytes.clone();
            newer[0] = FORMAT + 1;
            assert!(
                unpack(&newer, 2, "r", 1)
                    .unwrap_err()
                    .to_string()
                    .contains("format")
            );
            assert!(unpack(&[], 0, "r", 1).is_err());
            let mut trailing = bytes.clone();
            trailing.push(0);
            assert!(unpack(&trailing, 2, "r", 1).is_err());
            // Cut anywhere: never a panic, never a shorter log.
            for cut in 1..bytes.len() {
                assert!(unpack(&bytes[..cut], 2, "r", 1).is_err(), "cut at {cut}");
            }
        }
        let bad = |bytes: &[u8], count: u64, why: &str| {
            let err = unpack(bytes, count, "r", 1).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        };
        bad(&[2, 0, 0, 0], 2, "cannot fit");
        bad(&[2, 2, 0x00, 0], 1, "row flags");
        bad(&[2, 0, 0xF0, 0], 1, "uses class 15 of 14");
        bad(&[2, 0, 0xE0, 19, 0, 0, 0, 0], 1, "unknown kind number 19");
        bad(&[2, 0, 0xE0, 0, 1, 0xFF, 0, 0, 0, 0], 1, "utf-8");
        bad(&[2, 0, 0xE0, 1, 2, 0, 0, 0], 1, "bad code tag 2");
        bad(&[2, 0, 0xE0, 1, 0, 9, 0, 0], 1, "9 bytes announced");
        bad(
            &[2, 0, 0x01, 0x80, 0x80, 0x80, 0x80, 0x10, 0],
            1,
            "member out of range",
        );
        bad(&[2, 0, 0x04, 1, 2, 3, 0], 1, "ends early");
        bad(&[2, 0, 0x00, 0, 0], 1, "trailing");
    }

    /// The size this change was made for: a busy 300-player room (one row
    /// of 300 moves a tick) and a hundred small rooms (rows of three), with
    /// members, seqs and trace ids as the server produces them. The bound
    /// is on this deterministic encoding; the database's growth per input
    /// is measured by `examples/log_size.rs` (docs/PERFORMANCE.md).
    #[test]
    fn a_logged_move_takes_a_third_of_format_1_or_less() {
        let trace_base = 0x6a09_e667_f3bc_c908u64;
        let load = |rooms: u32, members: u32, tick: u64| -> Vec<Vec<InputRow>> {
            (0..rooms)
                .map(|room| {
                    (0..members)
                        .map(|i| {
                            // Arrival order differs from seat order.
                            let m = (i * 7 + room) % members + 1;
                            let seq = tick * 20 + u64::from(m % 3);
                            InputRow {
                                index: i,
                                member: Some(m),
                                seq: Some(seq),
                                kind: "move_piece".into(),
                                code: None,
                                // Positions as the load generator drags.
                                input: move_to(
                                    Some(m),
                                    Some(seq),
                                    None,
                                    (
                                        i64::from((seq as u32 * 37 + m * 11) % 980 + 10),
                                        i64::from((seq as u32 * 13 + m * 7) % 980 + 10),
                                    ),
                                ),
                                outcome: vec![0],
                                trace_id: Some(
                                    trace_base + tick * 6000 + u64::from(i * rooms + room),
                                ),
                            }
                        })
                        .collect()
                })
                .collect()
        };
        for (rooms, members, bound_v2) in [(1, 300, 12.0), (100, 3, 15.0)] {
            let (mut v1, mut v2, mut n) = (0usize, 0usize, 0usize);
            for tick in 3000..3020 {
                for rows in load(rooms, members, tick) {
                    v1 += pack_v1(&rows).unwrap().len();
                    let packed = pack(&rows).unwrap();
                    assert_eq!(unpack(&packed, rows.len() as u64, "r", tick).unwrap(), rows);
                    v2 += packed.len();
                    n += rows.len();
                }
            }
            let (per_v1, per_v2) = (v1 as f64 / n as f64, v2 as f64 / n as f64);
            println!(
                "{rooms} rooms x {members}: format 1 {per_v1:.2}, format 2 {per_v2:.2} bytes per input"
            );
            assert!(
                per_v2 <= bound_v2,
                "{rooms} x {members}: {per_v2:.2} bytes per input"
            );
            assert!(
                per_v2 * 3.0 <= per_v1,
                "{rooms} x {members}: {per_v1:.2} -> {per_v2:.2}"
            );
        }
    }
}
