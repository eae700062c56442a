//! `--capture-to` / `kspan record`: everything observed, as watch-event JSON lines
//! with their arrival time, the format `kspan replay` reads back.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::time::{self, Nanos};

pub struct Recorder {
    out: Mutex<BufWriter<File>>,
}

impl Recorder {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Recorder { out: Mutex::new(BufWriter::new(File::create(path)?)) })
    }

    pub fn write(&self, kind: &str, object: &Value, at: Nanos) {
        let mut line =
            json!({"type": kind, "object": object, "time": time::format(at)}).to_string();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = out.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "cannot write the capture");
        }
    }

    pub fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.flush();
    }
}
