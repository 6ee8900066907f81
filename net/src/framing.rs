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

/// Reads one frame; `Err` ends the stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    hard_limit: usize,
) -> Result<Vec<u8>, FrameEnd> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]).await {
            Ok(0) if got == 0 => return Err(FrameEnd::Finished),
            Ok(0) => {
                return Err(FrameEnd::Broken(
                    "the stream ended inside a length prefix".into(),
                ));
            }
            Ok(n) => got += n,
            Err(e) => return Err(FrameEnd::Broken(e.to_string())),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > hard_limit {
        return Err(FrameEnd::TooLarge {
            len,
            max: hard_limit,
        });
    }
    // Grows with the bytes that actually arrive: a length prefix alone
    // cannot make us allocate.
    let mut frame = Vec::new();
    let got = (&mut *r)
        .take(len as u64)
        .read_to_end(&mut frame)
        .await
        .map_err(|e| FrameEnd::Broken(e.to_string()))?;
    if got < len {
        return Err(FrameEnd::Broken("the stream ended inside a frame".into()));
    }
    Ok(frame)
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
        let mut frames = Vec::new();
        loop {
            match read_frame(&mut r, limit).await {
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
