//! Net → tick: routes each room request to the tick thread that owns the
//! room, through a bounded channel. A full channel is SERVER_BUSY; nothing
//! here blocks the async runtime.

use super::shard::ShardCommand;
use crossbeam_channel::{Sender, TrySendError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tickroom_net::{ConnHandle, Router};
use tickroom_protocol::{ClientMessage, ErrorBody, ErrorCode, RoomId};

/// A shard's two queues: room requests (bounded: SERVER_BUSY when full) and
/// lifecycle events (closes, shutdown), which are never refused: there is
/// at most one close per connection, so the connection limit bounds them.
#[derive(Clone)]
pub struct ShardQueues {
    pub requests: Sender<ShardCommand>,
    pub control: Sender<ShardCommand>,
}

pub struct RoomRouter {
    shards: Vec<ShardQueues>,
    /// Makes generated room ids unique within this process; mixed with the
    /// start time so ids differ across restarts.
    next_room: AtomicU64,
    nonce: u64,
}

impl RoomRouter {
    pub fn new(shards: Vec<ShardQueues>) -> RoomRouter {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        RoomRouter {
            shards,
            next_room: AtomicU64::new(1),
            nonce,
        }
    }

    /// The shard that owns `room`: a fixed hash, so the owner never changes.
    pub fn shard_of(&self, room: &RoomId) -> usize {
        (xxhash_rust::xxh3::xxh3_64(room.0.as_bytes()) % self.shards.len() as u64) as usize
    }

    fn new_room_id(&self) -> RoomId {
        let n = self.next_room.fetch_add(1, Ordering::Relaxed);
        let h = xxhash_rust::xxh3::xxh3_64(&[self.nonce.to_le_bytes(), n.to_le_bytes()].concat());
        RoomId(format!("r{:012x}", h & 0xffff_ffff_ffff))
    }

    fn send(&self, room: &RoomId, cmd: ShardCommand) -> Result<(), ErrorBody> {
        match self.shards[self.shard_of(room)].requests.try_send(cmd) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(ErrorBody::new(
                ErrorCode::ServerBusy,
                "the server is busy; nothing was applied, retry shortly",
            )),
            Err(TrySendError::Disconnected(_)) => Err(ErrorBody::new(
                ErrorCode::ShuttingDown,
                "the server is shutting down",
            )),
        }
    }

    /// Stops every tick thread after its current tick.
    pub fn shutdown(&self) {
        for shard in &self.shards {
            let _ = shard.control.send(ShardCommand::Shutdown);
        }
    }
}

impl Router for RoomRouter {
    fn submit(&self, conn: &Arc<ConnHandle>, msg: ClientMessage) -> Result<(), ErrorBody> {
        let room = match &msg {
            ClientMessage::CreateRoom { room: Some(r), .. }
            | ClientMessage::JoinRoom { room: r, .. } => {
                if !r.is_valid() {
                    return Err(ErrorBody::new(
                        ErrorCode::InvalidArgument,
                        "room ids are 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
                    )
                    .with("field", "room"));
                }
                r.clone()
            }
            ClientMessage::CreateRoom { room: None, .. } => self.new_room_id(),
            _ => conn
                .room()
                .ok_or_else(|| ErrorBody::new(ErrorCode::NotInRoom, "join a room first"))?,
        };
        let msg = match msg {
            ClientMessage::CreateRoom {
                seq,
                room: None,
                config,
                private,
            } => ClientMessage::CreateRoom {
                seq,
                room: Some(room.clone()),
                config,
                private,
            },
            ClientMessage::JoinRoom { .. } => {
                if conn.room().is_some_and(|r| r != room) {
                    return Err(ErrorBody::new(
                        ErrorCode::AlreadyInRoom,
                        "leave your room before joining another",
                    ));
                }
                conn.set_room(Some(room.clone()));
                msg
            }
            other => other,
        };
        self.send(
            &room,
            ShardCommand::Submit {
                conn: conn.clone(),
                room: room.clone(),
                msg,
            },
        )
    }

    fn closed(&self, conn: &Arc<ConnHandle>) {
        if let Some(room) = conn.room() {
            let _ = self.shards[self.shard_of(&room)]
                .control
                .send(ShardCommand::Closed {
                    conn: conn.clone(),
                    room,
                });
        }
    }
}
