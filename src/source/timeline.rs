//! The timeline of a replay: read files and place every observation in time order.
//!
//! Documents with an arrival time (kspan captures, recorded watch lines) keep it.
//! Objects without one are snapshots (a dump, `kubectl get -o yaml`): like a
//! watcher's initial list they are fed first, so events find their owners. Events
//! without an arrival time are placed at the time they record.
//!
//! Recorded watch lines (`kspan record`, `kspan synth`) can be far larger than
//! memory: they are read a line at a time and merged with the rest as the
//! correlator asks for more. Everything else (YAML, lists, dumps) is small by
//! nature and is read whole and sorted.

use std::borrow::Cow;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::files::{
    collect_paths, kind_hint, read_line, read_text, recorded_line, ReadError, ReadOutcome,
};
use super::text;
use crate::observe::{Observation, Observed};
use crate::time::Nanos;

/// A whole replay in memory (tests, small inputs).
pub struct Replay {
    pub observations: Vec<Observation>,
    pub errors: Vec<ReadError>,
    pub skipped: Vec<PathBuf>,
}

pub fn load(paths: &[PathBuf]) -> Replay {
    Timeline::open(paths).collect_all()
}

/// How far a recorded line may be out of order and still be replayed in order:
/// watchers of different kinds write to one recording, each in its own order.
const REORDER_WINDOW: usize = 4096;

/// Replay order: time, then snapshots first, then input order.
#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
struct Key {
    at: Nanos,
    late: bool,
    source: usize,
    seq: u64,
}

struct Keyed {
    key: Key,
    observation: Observation,
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

/// One recorded watch-line file, read as it is consumed.
struct Lines {
    file: PathBuf,
    hint: Option<&'static str>,
    reader: BufReader<text::Reader>,
    line: usize,
    buffer: BinaryHeap<Reverse<Keyed>>,
    seq: u64,
    done: bool,
    /// The line being read and what it gave, kept between lines so that a
    /// recording of millions of lines does not allocate a buffer per line.
    bytes: Vec<u8>,
    outcome: ReadOutcome,
}

enum Source {
    /// Everything read whole, already in order.
    Sorted(std::vec::IntoIter<Keyed>),
    Lines(Box<Lines>),
}

/// The observations of the whole input in replay order, read as they are needed.
/// Errors found on the way wait in `take_errors`; nothing readable is lost to them.
pub struct Timeline {
    sources: Vec<Source>,
    heads: BinaryHeap<Reverse<Keyed>>,
    errors: Vec<ReadError>,
    pub skipped: Vec<PathBuf>,
    origin: Nanos,
    started: bool,
    /// The input files' sizes, and those of the files read whole (at open).
    bytes_total: u64,
    bytes_read_whole: u64,
}

impl Timeline {
    pub fn open(paths: &[PathBuf]) -> Timeline {
        let mut outcome = ReadOutcome::default();
        let mut streams = Vec::new();
        let (mut bytes_total, mut bytes_read_whole) = (0, 0);
        for (file, walked) in collect_paths(paths, &mut outcome.errors) {
            let size = std::fs::metadata(&file).map_or(0, |m| m.len());
            bytes_total += size;
            match open_recorded(&file) {
                Ok(Some(stream)) => streams.push((file, stream)),
                Ok(None) => {
                    super::files::read_file(&file, walked, &mut outcome);
                    bytes_read_whole += size;
                }
                Err(e) => outcome.errors.push(ReadError::Io(file, e)),
            }
        }
        Timeline { bytes_total, bytes_read_whole, ..Timeline::new(outcome, streams) }
    }

    /// The size of the input files.
    pub fn bytes_total(&self) -> u64 {
        self.bytes_total
    }

    /// Bytes of the input files read so far.
    pub fn bytes_read(&self) -> u64 {
        let streamed = self.sources.iter().map(|source| match source {
            Source::Lines(lines) => lines.reader.get_ref().position(),
            Source::Sorted(_) => 0,
        });
        self.bytes_read_whole + streamed.sum::<u64>()
    }

    /// A capture held in memory (the bundled example), named `name` in errors.
    pub fn from_text(name: &str, text: &str) -> Timeline {
        let mut outcome = ReadOutcome::default();
        let file = Path::new(name);
        if text.lines().next().and_then(recorded_line).is_some() {
            // The same reader as a recording on disk, so both say the same.
            let hint = kind_hint(file);
            for (index, line) in text.split_inclusive('\n').enumerate() {
                read_line(file, hint, index + 1, line, &mut outcome);
            }
        } else {
            read_text(file, text, false, &mut outcome);
        }
        Timeline::new(outcome, Vec::new())
    }

    fn new(
        outcome: ReadOutcome,
        streams: Vec<(PathBuf, (BufReader<text::Reader>, Nanos))>,
    ) -> Timeline {
        // A recording's first line is its earliest: it may set the origin too.
        let origin = outcome
            .items
            .iter()
            .filter_map(|i| i.arrival.or(i.decoded.time))
            .chain(streams.iter().map(|(_, (_, first))| *first))
            .min()
            .unwrap_or(0);
        let mut sorted: Vec<Keyed> = outcome
            .items
            .into_iter()
            .enumerate()
            .map(|(seq, item)| {
                let snapshot =
                    !matches!(item.decoded.what, Observed::Event(_)) && item.arrival.is_none();
                let at = match item.arrival.or(item.decoded.time) {
                    Some(at) if !snapshot => at,
                    _ => origin,
                };
                Keyed {
                    key: Key { at, late: !snapshot, source: 0, seq: seq as u64 },
                    observation: Observation { at, what: item.decoded.what },
                }
            })
            .collect();
        sorted.sort_by_key(|k| k.key);
        let mut sources = vec![Source::Sorted(sorted.into_iter())];
        sources.extend(streams.into_iter().map(|(file, (reader, _))| {
            Source::Lines(Box::new(Lines {
                hint: kind_hint(&file),
                file,
                reader,
                line: 0,
                buffer: BinaryHeap::new(),
                seq: 0,
                done: false,
                bytes: Vec::new(),
                outcome: ReadOutcome::default(),
            }))
        }));
        Timeline {
            sources,
            heads: BinaryHeap::new(),
            errors: outcome.errors,
            skipped: outcome.skipped,
            origin,
            started: false,
            bytes_total: 0,
            bytes_read_whole: 0,
        }
    }

    /// Errors met since the last call, in the order they were found.
    pub fn take_errors(&mut self) -> Vec<ReadError> {
        std::mem::take(&mut self.errors)
    }

    pub(crate) fn collect_all(mut self) -> Replay {
        let observations = self.by_ref().collect();
        Replay {
            observations,
            errors: self.take_errors(),
            skipped: std::mem::take(&mut self.skipped),
        }
    }

    fn pull(&mut self, source: usize) {
        let origin = self.origin;
        let next = match &mut self.sources[source] {
            Source::Sorted(items) => items.next(),
            Source::Lines(lines) => lines.next(source, origin, &mut self.errors),
        };
        if let Some(keyed) = next {
            self.heads.push(Reverse(keyed));
        }
    }
}

impl Iterator for Timeline {
    type Item = Observation;

    fn next(&mut self) -> Option<Observation> {
        if !self.started {
            self.started = true;
            for source in 0..self.sources.len() {
                self.pull(source);
            }
        }
        let Reverse(head) = self.heads.pop()?;
        self.pull(head.key.source);
        Some(head.observation)
    }
}

impl Lines {
    /// Reads until the reorder window is full or the file ends.
    fn fill(&mut self, source: usize, origin: Nanos, errors: &mut Vec<ReadError>) {
        let outcome = &mut self.outcome;
        while !self.done && self.buffer.len() < REORDER_WINDOW {
            self.bytes.clear();
            match read_line_into(&mut self.reader, &mut self.bytes) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let text = match std::str::from_utf8(&self.bytes) {
                        Ok(text) => Cow::Borrowed(text),
                        Err(_) => String::from_utf8_lossy(&self.bytes),
                    };
                    read_line(&self.file, self.hint, self.line, &text, outcome);
                }
                Err(e) => {
                    errors.push(ReadError::Io(self.file.clone(), e));
                    self.done = true;
                }
            }
            for item in outcome.items.drain(..) {
                let at = item.arrival.or(item.decoded.time).unwrap_or(origin);
                self.seq += 1;
                self.buffer.push(Reverse(Keyed {
                    key: Key { at, late: true, source, seq: self.seq },
                    observation: Observation { at, what: item.decoded.what },
                }));
            }
            errors.append(&mut outcome.errors);
        }
    }

    fn next(&mut self, source: usize, origin: Nanos, errors: &mut Vec<ReadError>) -> Option<Keyed> {
        self.fill(source, origin, errors);
        self.buffer.pop().map(|Reverse(k)| k)
    }
}

/// `BufRead::read_until(b'\n')`, but finding the newline with the memchr crate's
/// SIMD search, the faster one on long lines (BENCHMARKS.md).
fn read_line_into(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut read = 0;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (taken, done) = match memchr::memchr(b'\n', available) {
            Some(end) => (end + 1, true),
            None => (available.len(), available.is_empty()),
        };
        line.extend_from_slice(&available[..taken]);
        reader.consume(taken);
        read += taken;
        if done {
            return Ok(read);
        }
    }
}

/// A file whose first line is a recorded watch event (with its arrival time) is
/// read line by line; anything else is read whole. Returns the reader and the
/// first line's arrival.
fn open_recorded(file: &Path) -> std::io::Result<Option<(BufReader<text::Reader>, Nanos)>> {
    let mut reader = BufReader::with_capacity(1 << 20, text::open(file)?);
    // Bounded: a huge one-line JSON document is not a recording.
    let mut first = Vec::new();
    std::io::Read::take(&mut reader, 1 << 20).read_until(b'\n', &mut first)?;
    let Some(arrival) = recorded_line(&String::from_utf8_lossy(&first)) else {
        return Ok(None);
    };
    // Start over (opened anew: a decoder cannot rewind): the first line is an
    // observation too.
    Ok(Some((BufReader::with_capacity(1 << 20, text::open(file)?), arrival)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recording saved as UTF-16 (with its byte-order mark, CRLF) is still
    /// a recording, read a line at a time, each line as UTF-8.
    #[test]
    fn a_utf16_recording_is_read_a_line_at_a_time() {
        let lines = [
            r#"{"type":"ADDED","time":"2021-05-19T10:00:01Z","object":{"kind":"Pod"}}"#,
            r#"{"type":"ADDED","time":"2021-05-19T10:00:02Z","object":{"kind":"Node"}}"#,
        ];
        let text = lines.join("\r\n") + "\r\n";
        let file = std::env::temp_dir().join(format!("kspan-utf16-{}.jsonl", std::process::id()));
        let units = text.encode_utf16().flat_map(u16::to_be_bytes);
        std::fs::write(&file, [0xFE, 0xFF].into_iter().chain(units).collect::<Vec<u8>>()).unwrap();
        let (mut reader, first) = open_recorded(&file).unwrap().expect("a recording");
        std::fs::remove_file(&file).unwrap();
        assert_eq!(Some(first), crate::time::parse("2021-05-19T10:00:01Z"));
        for line in lines {
            let mut read = Vec::new();
            read_line_into(&mut reader, &mut read).unwrap();
            assert_eq!(String::from_utf8(read).unwrap(), format!("{line}\r\n"));
        }
        assert_eq!(read_line_into(&mut reader, &mut Vec::new()).unwrap(), 0);
    }

    /// A recording counts as it is read, a file read whole at once: all of both
    /// once the timeline is drained.
    #[test]
    fn bytes_read_grow_to_the_total() {
        let dir = std::env::temp_dir().join(format!("kspan-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = |i: usize| {
            format!(
                r#"{{"type":"ADDED","time":"2021-05-19T10:00:{:02}Z","object":{{"kind":"Pod","metadata":{{"name":"p{i}","namespace":"a","uid":"u{i}"}}}}}}"#,
                i % 60
            ) + "\n"
        };
        // Larger than the reader's buffer (1 MiB), so it is read in steps.
        let recording: String = (0..20_000).map(line).collect();
        std::fs::write(dir.join("rec.jsonl"), &recording).unwrap();
        let snapshot = "kind: Pod\nmetadata: {name: s, namespace: a, uid: s}\n";
        std::fs::write(dir.join("snapshot.yaml"), snapshot).unwrap();
        let mut timeline = Timeline::open(std::slice::from_ref(&dir));
        let total = (recording.len() + snapshot.len()) as u64;
        assert_eq!(timeline.bytes_total(), total);
        assert_eq!(timeline.bytes_read(), snapshot.len() as u64, "the snapshot, read at open");
        let first = timeline.by_ref().take(2).count();
        let partly = timeline.bytes_read();
        assert!(
            first == 2 && partly > snapshot.len() as u64 && partly < total,
            "{partly} of {total}"
        );
        assert_eq!(timeline.by_ref().count(), 20_001 - 2);
        assert_eq!(timeline.bytes_read(), total);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Every line as `read_until` gives it, whether it lies in one buffer fill or
    /// spans several, and a last line without its newline.
    #[test]
    fn lines_are_split_as_read_until_splits_them() {
        let text = b"{\"a\":1}\n\nlonger than the buffer: 0123456789abcdef\nlast, no newline";
        for capacity in [1, 3, 8, 64, 1 << 10] {
            let (mut ours, mut std) = (BufReader::with_capacity(capacity, &text[..]), &text[..]);
            loop {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let n = read_line_into(&mut ours, &mut a).unwrap();
                assert_eq!(n, std.read_until(b'\n', &mut b).unwrap(), "capacity {capacity}");
                assert_eq!(a, b, "capacity {capacity}");
                if n == 0 {
                    break;
                }
            }
        }
    }
}
