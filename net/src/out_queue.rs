//! A connection's bounded outbound queue: any thread pushes without
//! blocking, the connection's writer task awaits. A tokio channel reserves a
//! block of 32 slots (1.5 KiB here) for every connection up front; this
//! queue holds nothing while idle, grows with what is queued, and gives back
//! what a burst left behind.

use crate::outbound::OutFrame;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Capacity kept after the queue drains; more is given back.
const KEEP_CAPACITY: usize = 16;

struct Shared {
    state: Mutex<State>,
    ready: Notify,
}

struct State {
    frames: VecDeque<OutFrame>,
    max_frames: usize,
    /// No more frames are taken (the writer closed or went away).
    closed: bool,
}

/// Why a push was refused; the frame comes back.
pub(crate) enum Refused {
    Full,
    Closed,
}

/// The pushing side, held by the connection's handle.
pub(crate) struct Sender {
    shared: Arc<Shared>,
}

/// The writer's side.
pub(crate) struct Receiver {
    shared: Arc<Shared>,
}

pub(crate) fn queue(max_frames: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::new(),
            max_frames: max_frames.max(1),
            closed: false,
        }),
        ready: Notify::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Sender {
    pub(crate) fn try_send(&self, frame: OutFrame) -> Result<(), Refused> {
        {
            let mut state = self.shared.state();
            if state.closed {
                return Err(Refused::Closed);
            }
            if state.frames.len() >= state.max_frames {
                return Err(Refused::Full);
            }
            state.frames.push_back(frame);
        }
        // A stored permit if the writer is not waiting: it cannot miss this.
        self.shared.ready.notify_one();
        Ok(())
    }
}

impl Receiver {
    /// The next frame, or `None` once closed and empty.
    pub(crate) async fn recv(&mut self) -> Option<OutFrame> {
        loop {
            {
                let mut state = self.shared.state();
                if let Some(frame) = pop(&mut state) {
                    return Some(frame);
                }
                if state.closed {
                    return None;
                }
            }
            self.shared.ready.notified().await;
        }
    }

    pub(crate) fn try_recv(&mut self) -> Option<OutFrame> {
        pop(&mut self.shared.state())
    }

    /// Gives back the queue's memory if it holds nothing; for connections
    /// that have gone quiet (the capacity kept for a busy one's next tick
    /// is dead weight on an idle one).
    pub(crate) fn release_if_empty(&mut self) {
        let mut state = self.shared.state();
        if state.frames.is_empty() {
            state.frames = VecDeque::new();
        }
    }

    /// Takes no more frames; those queued can still be received.
    pub(crate) fn close(&mut self) {
        self.shared.state().closed = true;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.closed = true;
        state.frames = VecDeque::new();
    }
}

fn pop(state: &mut State) -> Option<OutFrame> {
    let frame = state.frames.pop_front();
    if state.frames.is_empty() && state.frames.capacity() > KEEP_CAPACITY {
        state.frames = VecDeque::new();
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Payload;

    fn frame(n: u8) -> OutFrame {
        OutFrame {
            payload: Payload::Binary(vec![n].into()),
            critical: true,
        }
    }

    fn byte(f: &OutFrame) -> u8 {
        f.payload.as_bytes()[0]
    }

    #[tokio::test]
    async fn frames_come_out_in_order_up_to_the_bound_then_none_after_close() {
        let (tx, mut rx) = queue(2);
        assert!(tx.try_send(frame(1)).is_ok());
        assert!(tx.try_send(frame(2)).is_ok());
        assert!(matches!(tx.try_send(frame(3)), Err(Refused::Full)));
        assert_eq!(rx.recv().await.as_ref().map(byte), Some(1));
        assert!(tx.try_send(frame(4)).is_ok());
        rx.close();
        assert!(matches!(tx.try_send(frame(5)), Err(Refused::Closed)));
        assert_eq!(rx.try_recv().as_ref().map(byte), Some(2));
        assert_eq!(rx.recv().await.as_ref().map(byte), Some(4));
        assert!(rx.recv().await.is_none());
        drop(rx);
        assert!(matches!(tx.try_send(frame(6)), Err(Refused::Closed)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_writer_gets_every_frame_pushed_from_another_thread() {
        let (tx, mut rx) = queue(64);
        let pusher = std::thread::spawn(move || {
            let mut n = 0u32;
            while n < 10_000 {
                if tx.try_send(frame(n as u8)).is_ok() {
                    n += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        for n in 0..10_000u32 {
            let got = rx.recv().await.expect("a frame");
            assert_eq!(byte(&got), n as u8);
        }
        pusher.join().unwrap();
    }

    #[test]
    fn a_drained_queue_gives_back_what_a_burst_grew() {
        let (tx, mut rx) = queue(1000);
        for n in 0..500 {
            assert!(tx.try_send(frame(n as u8)).is_ok());
        }
        while rx.try_recv().is_some() {}
        assert!(rx.shared.state().frames.capacity() <= KEEP_CAPACITY);
    }

    #[test]
    fn a_quiet_queue_gives_back_everything_but_never_drops_a_frame() {
        let (tx, mut rx) = queue(10);
        assert!(tx.try_send(frame(1)).is_ok());
        rx.release_if_empty();
        assert_eq!(rx.try_recv().map(|f| byte(&f)), Some(1), "not empty: kept");
        assert!(rx.shared.state().frames.capacity() > 0);
        rx.release_if_empty();
        assert_eq!(rx.shared.state().frames.capacity(), 0);
        assert!(tx.try_send(frame(2)).is_ok());
        assert_eq!(rx.try_recv().map(|f| byte(&f)), Some(2));
    }
}
