//! Length-delimited frames for QUIC streams: each frame is a 4-byte
//! big-endian length (not counting itself) followed by that many bytes of
//! postcard.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a stream of frames ended.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEnd {
    /// The peer finished the stream cleanly between frames.
    Finished,
    /// A frame announced more than the hard limit; the stream cannot be
    /// resynchronised without reading it, so it is abandoned.
    TooLarge { len: usize, max: usize },
    /// The stream broke (reset, connection lost, or ended inside a frame).
    Broken(String),
}

/// Reads frames from a stream. Bytes read but not yet a whole frame stay
/// here between calls, so [`FrameReader::next`] is cancel-safe: it can race
/// other events in a `select!` without a frame being cut, and a connection
/// needs no task of its own just to read.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Where the next frame starts in `buf`: frames are taken without moving
    /// the bytes behind them, which are moved once per read.
    start: usize,
    hard_limit: usize,
    /// The stream ended (cleanly or not): every later call says `Finished`.
    ended: bool,
}

/// Bytes asked of the stream per read at least (an intent is tens of bytes;
/// this is what an idle connection holds while it waits) and at most (a
/// length prefix alone cannot make us allocate).
const READ_MIN: usize = 64;
const READ_MAX: usize = 16 * 1024;

impl FrameReader {
    pub fn new(hard_limit: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            start: 0,
            hard_limit,
            ended: false,
        }
    }

    /// The next frame; `Err` ends the stream, and every call after it
    /// returns `Finished`.
    pub async fn next<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Vec<u8>, FrameEnd> {
        if self.ended {
            return Err(FrameEnd::Finished);
        }
        let read = self.read(r).await;
        self.ended = read.is_err();
        read
    }

    async fn read<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Vec<u8>, FrameEnd> {
        loop {
            let missing = match self.take_frame()? {
                Ok(frame) => return Ok(frame),
                Err(missing) => missing,
            };
            self.buf.drain(..self.start);
            self.start = 0;
            self.buf.reserve(missing.clamp(READ_MIN, READ_MAX));
            // `read_buf` either reads or, when cancelled, has read nothing.
            match r.read_buf(&mut self.buf).await {
                Ok(0) if self.buf.is_empty() => return Err(FrameEnd::Finished),
                Ok(0) => {
                    return Err(FrameEnd::Broken(if self.buf.len() < 4 {
                        "the stream ended inside a length prefix".into()
                    } else {
                        "the stream ended inside a frame".into()
                    }));
                }
                Ok(_) => {}
                Err(e) => return Err(FrameEnd::Broken(e.to_string())),
            }
        }
    }

    /// A whole frame from the buffer, or how many bytes are still missing.
    fn take_frame(&mut self) -> Result<Result<Vec<u8>, usize>, FrameEnd> {
        let data = &self.buf[self.start..];
        let Some(prefix) = data.first_chunk::<4>() else {
            return Ok(Err(4 - data.len()));
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > self.hard_limit {
            return Err(FrameEnd::TooLarge {
                len,
                max: self.hard_limit,
            });
        }
        let end = 4 + len;
        if data.len() < end {
            return Ok(Err(end - data.len()));
        }
        if self.start == 0 && data.len() == end {
            // The usual case: the buffer holds exactly one frame and becomes
            // it, so what a burst grew does not stay with the connection.
            let mut frame = std::mem::take(&mut self.buf);
            frame.drain(..4);
            return Ok(Ok(frame));
        }
        let frame = data[4..end].to_vec();
        self.start += end;
        if self.start == self.buf.len() {
            self.buf = Vec::new();
            self.start = 0;
        }
        Ok(Ok(frame))
    }
}

/// The bytes of one frame: prefix and payload.
pub fn frame_bytes(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all_frames(bytes: &[u8], limit: usize) -> (Vec<Vec<u8>>, FrameEnd) {
        let mut r = bytes;
        let mut reader = FrameReader::new(limit);
        let mut frames = Vec::new();
        loop {
            match reader.next(&mut r).await {
                Ok(f) => frames.push(f),
                Err(end) => return (frames, end),
            }
        }
    }

    #[tokio::test]
    async fn frames_round_trip_and_end_cleanly() {
        let mut stream = frame_bytes(b"hello");
        stream.extend(frame_bytes(b""));
        stream.extend(frame_bytes(&[7; 300]));
        let (frames, end) = all_frames(&stream, 1024).await;
        assert_eq!(frames, vec![b"hello".to_vec(), vec![], vec![7; 300]]);
        assert_eq!(end, FrameEnd::Finished);
    }

    #[tokio::test]
    async fn oversized_and_truncated_frames_end_the_stream() {
        let (_, end) = all_frames(&frame_bytes(&[1; 2000]), 1024).await;
        assert_eq!(
            end,
            FrameEnd::TooLarge {
                len: 2000,
                max: 1024
            }
        );
        let (_, end) = all_frames(&[0, 0], 1024).await;
        assert!(matches!(end, FrameEnd::Broken(_)));
        let mut cut = frame_bytes(b"abcdef");
        cut.truncate(7);
        let (_, end) = all_frames(&cut, 1024).await;
        assert!(matches!(end, FrameEnd::Broken(_)));
    }

    /// Polls `next` once and drops it: what it read must not be lost.
    async fn poll_once_and_cancel(reader: &mut FrameReader, r: &mut tokio::io::DuplexStream) {
        tokio::select! {
            biased;
            frame = reader.next(r) => panic!("no whole frame was written yet: {frame:?}"),
            () = std::future::ready(()) => {}
        }
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing() {
        use tokio::io::AsyncWriteExt;
        let (mut tx, mut rx) = tokio::io::duplex(1024);
        let mut reader = FrameReader::new(1024);
        let mut stream = frame_bytes(b"first frame");
        stream.extend(frame_bytes(b"second"));
        // Byte by byte, with a cancelled read after each, up to the last
        // byte of the first frame.
        let first_len = 4 + b"first frame".len();
        for b in &stream[..first_len - 1] {
            tx.write_all(&[*b]).await.unwrap();
            poll_once_and_cancel(&mut reader, &mut rx).await;
        }
        tx.write_all(&stream[first_len - 1..]).await.unwrap();
        assert_eq!(reader.next(&mut rx).await.unwrap(), b"first frame");
        assert_eq!(reader.next(&mut rx).await.unwrap(), b"second");
        // Once every buffered frame is taken, nothing a burst grew stays.
        assert_eq!(reader.buf.capacity(), 0);
        drop(tx);
        assert_eq!(reader.next(&mut rx).await, Err(FrameEnd::Finished));
    }

    #[tokio::test]
    async fn many_frames_in_one_read_come_out_in_order_and_an_end_stays_ended() {
        let mut stream = Vec::new();
        let frames: Vec<Vec<u8>> = (0..500u32)
            .map(|i| i.to_be_bytes().repeat((i % 7) as usize))
            .collect();
        for f in &frames {
            stream.extend(frame_bytes(f));
        }
        stream.extend(frame_bytes(&[9; 2000]));
        let (got, end) = all_frames(&stream, 1024).await;
        assert_eq!(got, frames);
        assert_eq!(
            end,
            FrameEnd::TooLarge {
                len: 2000,
                max: 1024
            }
        );
        // After an end, the reader reports `Finished` and reads nothing more.
        let mut reader = FrameReader::new(16);
        let mut r: &[u8] = &frame_bytes(&[1; 17]);
        assert!(matches!(
            reader.next(&mut r).await,
            Err(FrameEnd::TooLarge { .. })
        ));
        let mut more: &[u8] = &frame_bytes(b"ok");
        assert_eq!(reader.next(&mut more).await, Err(FrameEnd::Finished));
        assert_eq!(more.len(), 6, "nothing was read after the end");
    }

    proptest::proptest! {
                #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 5000 * std::env::var("TICKROOM_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1u32).max(1),
            ..Default::default()
        })]
        /// Random bytes: frames or a clean end, never a panic, and never an
        /// allocation past the limit (a claimed 4 GiB frame is refused before
        /// any buffer is made).
        #[test]
        fn random_streams_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (frames, _) = rt.block_on(all_frames(&bytes, 256));
            proptest::prop_assert!(frames.iter().all(|f| f.len() <= 256));
        }
    }
}
