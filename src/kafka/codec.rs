//! Length-prefixed Kafka framing. A frame is kept as one `Bytes` including its 4-byte length
//! prefix, so that forwarding it is a single write of the bytes that arrived.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than the configured limit; nothing was allocated for it.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The size announced by the prefix.
        size: i64,
        /// The limit in force on this connection.
        limit: usize,
    },
    /// The length prefix is negative.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed inside a frame ({0} bytes buffered)")]
    Truncated(usize),
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads frames from a byte stream, reading ahead into one buffer to save system calls.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max_frame: usize,
}

const READ_CHUNK: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a stream; frames larger than `max_frame` bytes (excluding the prefix) are refused.
    pub fn new(inner: R, max_frame: usize) -> Self {
        Self {
            inner,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max_frame,
        }
    }

    /// Changes the size limit, e.g. once a client has authenticated.
    pub fn set_max_frame(&mut self, max_frame: usize) {
        self.max_frame = max_frame;
    }

    /// Whether a complete frame is already buffered (so the next read will not block).
    pub fn has_buffered_frame(&self) -> bool {
        self.complete_frame_len().is_some_and(|r| r.is_ok())
    }

    fn complete_frame_len(&self) -> Option<Result<usize, FrameError>> {
        if self.buf.len() < 4 {
            return None;
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if size < 0 {
            return Some(Err(FrameError::NegativeLength(size)));
        }
        let size = size as usize;
        if size > self.max_frame {
            return Some(Err(FrameError::TooLarge {
                size: size as i64,
                limit: self.max_frame,
            }));
        }
        if self.buf.len() >= 4 + size {
            Some(Ok(4 + size))
        } else {
            None
        }
    }

    /// The next frame (prefix included), `Ok(None)` on a clean end of stream between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            match self.complete_frame_len() {
                Some(Ok(len)) => return Ok(Some(self.buf.split_to(len).freeze())),
                Some(Err(e)) => return Err(e),
                None => {}
            }
            // The announced size was checked against the limit above, so reserving for the
            // rest of the frame in hand is bounded by it.
            let need = if self.buf.len() >= 4 {
                (&self.buf[..4]).get_i32() as usize + 4 - self.buf.len()
            } else {
                4 - self.buf.len()
            };
            self.buf.reserve(need.max(READ_CHUNK));
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated(self.buf.len()))
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_frames_and_keeps_prefix() {
        let data: &[u8] = &[0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 7];
        let mut r = FrameReader::new(data, 16);
        assert_eq!(
            &r.next_frame().await.unwrap().unwrap()[..],
            &[0, 0, 0, 2, 9, 9]
        );
        assert_eq!(
            &r.next_frame().await.unwrap().unwrap()[..],
            &[0, 0, 0, 1, 7]
        );
        assert!(r.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn refuses_oversized_without_reading_it() {
        let data: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let mut r = FrameReader::new(data, 1024);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::TooLarge { limit: 1024, .. })
        ));
        assert!(r.buf.capacity() <= READ_CHUNK);
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let data: &[u8] = &[0, 0, 0, 9, 1, 2];
        let mut r = FrameReader::new(data, 1024);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::Truncated(6))
        ));
    }

    #[tokio::test]
    async fn negative_length_is_an_error() {
        let data: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        let mut r = FrameReader::new(data, 1024);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::NegativeLength(-2))
        ));
    }
}
