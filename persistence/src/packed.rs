//! The inputs of one logged tick, packed into that tick's `ticks` row.
//!
//! The store thread's cost is per row (statement steps, B-tree inserts, WAL
//! pages touched), and a busy room logs about ten inputs a tick: one row per
//! tick instead of one per input is most of the store's CPU saved. Readers
//! only ever read a room's log by tick range, so nothing needs the inputs as
//! rows of their own.
//!
//! Format: one version byte, then the postcard encoding of the tick's
//! `[InputRow]` in processing order. The row's `input_count` column repeats
//! the length so that counts need no decoding and a damaged blob is caught.

use crate::StoreError;
use crate::model::InputRow;

const FORMAT: u8 = 1;

pub(crate) fn pack(inputs: &[InputRow]) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![FORMAT];
    postcard::to_io(inputs, &mut out).map_err(|e| corrupt(e.to_string()))?;
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
    let (inputs, rest): (Vec<InputRow>, _) =
        postcard::take_from_bytes(body).map_err(|e| at(e.to_string()))?;
    if !rest.is_empty() || inputs.len() as u64 != count {
        return Err(at(format!(
            "{} inputs and {} trailing bytes where the row says {count} inputs",
            inputs.len(),
            rest.len()
        )));
    }
    Ok(inputs)
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
