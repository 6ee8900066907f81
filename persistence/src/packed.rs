//! The inputs of one logged tick, packed into that tick's `ticks` row.
//!
//! The store thread's cost is per row (statement steps, B-tree inserts, WAL
//! pages touched), and a busy room logs about ten inputs a tick: one row per
//! tick instead of one per input is most of the store's CPU saved. Readers
//! only ever read a room's log by tick range, so nothing needs the inputs as
//! rows of their own.
//!
//! Format: one version byte, then the postcard encoding of the tick's
//! inputs in processing order, each laid out as `InputV1`. The row's
//! `input_count` column repeats the length so that counts need no decoding
//! and a damaged blob is caught.
//!
//! `InputV1` is frozen, apart from `InputRow` (which the dead-letter file
//! and the rest of the store use, and which has grown before): a change to
//! what is stored is format 2, with a decoder for format 1 kept beside it.

use crate::StoreError;
use crate::model::InputRow;
use serde::{Deserialize, Serialize};

const FORMAT: u8 = 1;

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
/// collecting them first (the store thread packs every logged tick).
struct AsV1<'a>(&'a [InputRow]);

impl Serialize for AsV1<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(InputV1Ref::from))
    }
}

pub(crate) fn pack(inputs: &[InputRow]) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![FORMAT];
    postcard::to_io(&AsV1(inputs), &mut out).map_err(|e| corrupt(e.to_string()))?;
    Ok(out)
}

/// Decodes the inputs of `room`'s `tick`; `count` is the row's
/// `input_count`.
pub(crate) fn unpack(
    bytes: &[u8],
    count: u64,
    room: &str,
    tick: u64,
) -> Result<Vec<InputRow>, StoreError> {
    let at = |message: String| corrupt(format!("room {room} tick {tick}: {message}"));
    let Some((&FORMAT, body)) = bytes.split_first() else {
        return Err(at(format!(
            "unknown packed inputs format {:?} (this build reads {FORMAT})",
            bytes.first()
        )));
    };
    let (inputs, rest): (Vec<InputV1>, _) =
        postcard::take_from_bytes(body).map_err(|e| at(e.to_string()))?;
    if !rest.is_empty() || inputs.len() as u64 != count {
        return Err(at(format!(
            "{} inputs and {} trailing bytes where the row says {count} inputs",
            inputs.len(),
            rest.len()
        )));
    }
    Ok(inputs.into_iter().map(InputRow::from).collect())
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

    #[test]
    fn inputs_come_back_exactly_in_order() {
        let rows: Vec<InputRow> = (0..5).map(row).collect();
        let bytes = pack(&rows).unwrap();
        assert_eq!(unpack(&bytes, 5, "r", 1).unwrap(), rows);
        assert_eq!(unpack(&pack(&[]).unwrap(), 0, "r", 1).unwrap(), vec![]);
    }

    /// Format 1 on disk, byte by byte from postcard's rules (varint
    /// integers, 0/1 before an option's value, a length before a string or
    /// bytes). If this fails, stored logs would no longer decode: make the
    /// change format 2 instead.
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
            1,               // FORMAT
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
        assert_eq!(pack(std::slice::from_ref(&row)).unwrap(), stored);
        assert_eq!(unpack(&stored, 1, "r", 1).unwrap(), vec![row]);
    }

    #[test]
    fn a_damaged_or_foreign_blob_is_an_error_not_a_guess() {
        let bytes = pack(&[row(0), row(1)]).unwrap();
        let count_differs = unpack(&bytes, 3, "r", 9).unwrap_err();
        assert!(
            count_differs
                .to_string()
                .contains("room r tick 9: 2 inputs and 0 trailing bytes where the row says 3"),
            "{count_differs}"
        );
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
        assert!(unpack(&bytes[..bytes.len() - 3], 2, "r", 1).is_err());
    }
}
