//! The text encodings of replay input: UTF-8, with or without a byte-order mark,
//! and UTF-16 with one (what Windows PowerShell's `>` writes). Every reader
//! decodes through here, so a dump saved on Windows reads like any other.

use std::borrow::Cow;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf16 { big_endian: bool },
}

/// The encoding the byte-order mark at the start of `bytes` declares, and the
/// mark's length; without a mark, UTF-8.
fn sniff(bytes: &[u8]) -> (Encoding, usize) {
    match bytes {
        [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8, 3),
        [0xFF, 0xFE, ..] => (Encoding::Utf16 { big_endian: false }, 2),
        [0xFE, 0xFF, ..] => (Encoding::Utf16 { big_endian: true }, 2),
        _ => (Encoding::Utf8, 0),
    }
}

/// A whole file's text, without its byte-order mark; what is not valid in its
/// encoding becomes U+FFFD, so a stray byte spoils one document, not the file.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let (encoding, mark) = sniff(bytes);
    let bytes = &bytes[mark..];
    match encoding {
        Encoding::Utf8 => String::from_utf8_lossy(bytes),
        Encoding::Utf16 { big_endian } => {
            let mut text = String::with_capacity(bytes.len() / 2);
            let mut utf16 = Utf16::new(big_endian);
            utf16.decode(bytes, true, &mut text);
            Cow::Owned(text)
        }
    }
}

/// A file opened to be read as UTF-8 text, a line at a time: past its
/// byte-order mark, and decoded on the way if it is UTF-16.
pub enum Reader {
    Utf8(File),
    Utf16(Transcoder<File>),
}

pub fn open(file: &Path) -> std::io::Result<Reader> {
    let mut opened = File::open(file)?;
    let mut head = [0u8; 3];
    let mut filled = 0;
    while filled < head.len() {
        match opened.read(&mut head[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    let (encoding, mark) = sniff(&head[..filled]);
    opened.seek(SeekFrom::Start(mark as u64))?;
    Ok(match encoding {
        Encoding::Utf8 => Reader::Utf8(opened),
        Encoding::Utf16 { big_endian } => Reader::Utf16(Transcoder::new(opened, big_endian)),
    })
}

impl Reader {
    /// Bytes of the file read so far (before any decoding): how far a replay is.
    pub fn position(&self) -> u64 {
        let mut file = match self {
            Reader::Utf8(file) => file,
            Reader::Utf16(transcoder) => &transcoder.inner,
        };
        file.stream_position().unwrap_or(0)
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Reader::Utf8(file) => file.read(buf),
            Reader::Utf16(transcoder) => transcoder.read(buf),
        }
    }
}

/// UTF-16 decoding across chunk boundaries: a code unit split between two
/// chunks, or a surrogate pair, waits for the rest.
struct Utf16 {
    big_endian: bool,
    /// An odd byte, or a high surrogate's two bytes, carried to the next chunk.
    carry: Vec<u8>,
}

impl Utf16 {
    fn new(big_endian: bool) -> Utf16 {
        Utf16 { big_endian, carry: Vec::new() }
    }

    /// Appends the text of `bytes` to `out`; `last` says no chunk follows.
    fn decode(&mut self, bytes: &[u8], last: bool, out: &mut String) {
        let mut bytes = bytes;
        let joined;
        if !self.carry.is_empty() {
            self.carry.extend_from_slice(bytes);
            joined = std::mem::take(&mut self.carry);
            bytes = &joined;
        }
        let mut whole = bytes.len() - bytes.len() % 2;
        let unit = |pair: &[u8]| {
            let pair = [pair[0], pair[1]];
            if self.big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        };
        if !last && whole >= 2 && (0xD800..0xDC00).contains(&unit(&bytes[whole - 2..whole])) {
            whole -= 2;
        }
        let units = bytes[..whole].chunks_exact(2).map(unit);
        out.extend(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
        if last {
            if whole < bytes.len() {
                out.push(char::REPLACEMENT_CHARACTER);
            }
        } else {
            self.carry.extend_from_slice(&bytes[whole..]);
        }
    }
}

/// A UTF-16 byte stream read as UTF-8.
pub struct Transcoder<R> {
    inner: R,
    utf16: Utf16,
    raw: Vec<u8>,
    /// Decoded text not yet read, from `taken` on.
    text: String,
    taken: usize,
    done: bool,
}

impl<R: Read> Transcoder<R> {
    fn new(inner: R, big_endian: bool) -> Transcoder<R> {
        Transcoder {
            inner,
            utf16: Utf16::new(big_endian),
            raw: vec![0; 64 << 10],
            text: String::new(),
            taken: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for Transcoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.taken == self.text.len() && !self.done {
            let read = self.inner.read(&mut self.raw)?;
            self.done = read == 0;
            self.text.clear();
            self.taken = 0;
            self.utf16.decode(&self.raw[..read], self.done, &mut self.text);
        }
        let available = &self.text.as_bytes()[self.taken..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.taken += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "kind: Pod\r\nname: \"caf\u{e9} \u{1F680}\"\r\n";

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mark: &[u8] = if big_endian { &[0xFE, 0xFF] } else { &[0xFF, 0xFE] };
        let units = text.encode_utf16().flat_map(|u| {
            if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            }
        });
        mark.iter().copied().chain(units).collect()
    }

    /// A reader that gives `step` bytes at a time, so code units and surrogate
    /// pairs are split between reads.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn byte_order_marks_are_read_and_dropped() {
        for big_endian in [false, true] {
            assert_eq!(decode(&utf16(TEXT, big_endian)), TEXT, "big endian: {big_endian}");
        }
        assert_eq!(decode(&[b"\xEF\xBB\xBF", TEXT.as_bytes()].concat()), TEXT);
        assert_eq!(decode(TEXT.as_bytes()), TEXT);
        assert!(matches!(decode(TEXT.as_bytes()), Cow::Borrowed(_)), "UTF-8 is not copied");
    }

    #[test]
    fn a_stream_decodes_like_the_whole_whatever_the_chunks() {
        for big_endian in [false, true] {
            let bytes = utf16(TEXT, big_endian);
            for step in 1..8 {
                let mut transcoder =
                    Transcoder::new(Trickle { bytes: &bytes[2..], step }, big_endian);
                let mut text = String::new();
                transcoder.read_to_string(&mut text).unwrap();
                assert_eq!(text, TEXT, "step {step}, big endian: {big_endian}");
            }
        }
    }

    #[test]
    fn broken_utf16_becomes_replacement_characters() {
        // A lone high surrogate, then an odd last byte.
        let bytes = [0xFF, 0xFE, b'a', 0, 0x3D, 0xD8, b'b', 0, b'c'];
        assert_eq!(decode(&bytes), "a\u{FFFD}b\u{FFFD}");
    }
}
