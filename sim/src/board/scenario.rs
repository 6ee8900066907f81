//! The board's words in scenario files: `move P X Y`, `lock P`, `renew P`,
//! `release P`, `save NAME KEY`, `apply NAME`, `roll NOTATION`,
//! `chat TEXT…`, `start`, `archive` (see `docs/scenarios.md`).

use crate::scenario::words;
use tickroom_protocol::board::Intent;
use tickroom_protocol::{PieceId, Pos};

fn num<T: std::str::FromStr>(w: Option<&&str>) -> Result<T, String> {
    let w = w.ok_or("expected a number")?;
    w.parse()
        .map_err(|_| format!("`{w}` is not a valid number here"))
}

fn text(w: Option<&&str>) -> Result<String, String> {
    words::decode(w.copied().unwrap_or_default())
}

pub(super) fn intent(verb: &str, args: &[&str]) -> Option<Result<Intent, String>> {
    let need = |count: usize| {
        if args.len() == count {
            Ok(())
        } else {
            Err(format!("`{verb}` takes {count} argument(s)"))
        }
    };
    let piece = |k: usize| num(args.get(k)).map(PieceId);
    let parsed = match verb {
        "move" => need(3).and_then(|()| {
            Ok(Intent::MovePiece {
                piece: piece(0)?,
                to: Pos::new(num(args.get(1))?, num(args.get(2))?),
            })
        }),
        "lock" => need(1).and_then(|()| Ok(Intent::TakeLock { piece: piece(0)? })),
        "renew" => need(1).and_then(|()| Ok(Intent::RenewLock { piece: piece(0)? })),
        "release" => need(1).and_then(|()| Ok(Intent::ReleaseLock { piece: piece(0)? })),
        "save" => need(2).and_then(|()| {
            Ok(Intent::SaveFormation {
                name: text(args.first())?,
                key: text(args.get(1))?,
            })
        }),
        "apply" => need(1).and_then(|()| {
            Ok(Intent::ApplyFormation {
                name: text(args.first())?,
            })
        }),
        "roll" => need(1).and_then(|()| {
            Ok(Intent::RollDice {
                notation: text(args.first())?,
            })
        }),
        "chat" => words::decode_chat(args).map(|text| Intent::Chat { text }),
        "start" => need(0).map(|()| Intent::StartMatch {}),
        "archive" => need(0).map(|()| Intent::ArchiveRoom {}),
        _ => return None,
    };
    Some(parsed)
}

pub(super) fn words_of(intent: &Intent) -> String {
    match intent {
        Intent::MovePiece { piece, to } => format!("move {} {} {}", piece.0, to.x, to.y),
        Intent::TakeLock { piece } => format!("lock {}", piece.0),
        Intent::RenewLock { piece } => format!("renew {}", piece.0),
        Intent::ReleaseLock { piece } => format!("release {}", piece.0),
        Intent::SaveFormation { name, key } => {
            format!("save {} {}", words::encode(name), words::encode(key))
        }
        Intent::ApplyFormation { name } => format!("apply {}", words::encode(name)),
        Intent::RollDice { notation } => format!("roll {}", words::encode(notation)),
        Intent::Chat { text } => {
            let mut line = String::from("chat");
            for w in words::encode_chat(text) {
                line.push(' ');
                line.push_str(&w);
            }
            line
        }
        Intent::StartMatch {} => "start".into(),
        Intent::ArchiveRoom {} => "archive".into(),
    }
}
