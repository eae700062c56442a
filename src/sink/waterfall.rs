//! The terminal view: each trace as an indented Gantt chart with offsets,
//! durations, Warning marks and the Kubernetes Events under each span, in 100
//! columns. Generic over `Write` so tests render into a buffer.

use std::collections::BTreeMap;
use std::io::Write;

use crate::span::{hex, SpanDraft, SpanId, Status, TraceId};
use crate::time::{self, Nanos, SECOND};

pub const WIDTH: usize = 100;
const BAR: usize = 30;
const LABEL: usize = WIDTH - 24 - BAR;

/// Keys that name a span's subject, most specific first.
const SUBJECTS: &[&str] = &[
    "k8s.pod.name",
    "k8s.job.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.node.name",
    "k8s.object.name",
];

#[derive(Default)]
pub struct Waterfall {
    traces: Vec<TraceId>,
    spans: BTreeMap<TraceId, Vec<SpanDraft>>,
    /// Show the Kubernetes Events under each span.
    pub show_events: bool,
}

impl Waterfall {
    pub fn new(show_events: bool) -> Self {
        Waterfall { show_events, ..Default::default() }
    }

    pub fn add(&mut self, drafts: &[SpanDraft]) {
        for d in drafts {
            let spans = self.spans.entry(d.trace_id).or_default();
            if spans.is_empty() {
                self.traces.push(d.trace_id);
            }
            spans.push(d.clone());
        }
    }

    pub fn render<W: Write>(&self, out: &mut W) -> std::io::Result<()> {
        for trace in &self.traces {
            render_trace(out, trace, &self.spans[trace], self.show_events)?;
            writeln!(out)?;
        }
        Ok(())
    }
}

fn label(span: &SpanDraft) -> String {
    let subject =
        SUBJECTS.iter().find_map(|k| span.attribute(k)).map(|v| v.to_string()).unwrap_or_default();
    format!("{} {}", span.name, subject)
}

fn seconds(n: Nanos) -> String {
    let s = n as f64 / SECOND as f64;
    if s.abs() >= 100.0 {
        format!("{s:.0}s")
    } else {
        format!("{s:.2}s")
    }
}

fn truncate(text: &str, width: usize) -> String {
    let single: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if single.chars().count() <= width {
        return single;
    }
    let mut cut: String = single.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn bar(start: Nanos, end: Nanos, t0: Nanos, total: Nanos) -> String {
    let scale = |t: Nanos| ((t - t0) as f64 / total.max(1) as f64 * BAR as f64) as usize;
    let from = scale(start).min(BAR - 1);
    let to = scale(end).clamp(from + 1, BAR);
    format!("{}{}{}", " ".repeat(from), "█".repeat(to - from), " ".repeat(BAR - to))
}

fn render_trace<W: Write>(
    out: &mut W,
    trace: &TraceId,
    spans: &[SpanDraft],
    show_events: bool,
) -> std::io::Result<()> {
    let ids: BTreeMap<SpanId, usize> =
        spans.iter().enumerate().map(|(i, s)| (s.span_id, i)).collect();
    let mut children: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for (i, s) in spans.iter().enumerate() {
        // A parent emitted with an earlier batch shows as a root here.
        children.entry(s.parent.and_then(|p| ids.get(&p).copied())).or_default().push(i);
    }
    for list in children.values_mut() {
        list.sort_by_key(|&i| (spans[i].start, spans[i].span_id));
    }
    let t0 = spans.iter().map(|s| s.start).min().unwrap_or_default();
    let t1 = spans.iter().map(|s| s.end).max().unwrap_or_default();
    let total = t1 - t0;
    let errors = spans.iter().filter(|s| matches!(s.status, Status::Error(_))).count();
    let root = children.get(&None).and_then(|r| r.first()).map(|&i| &spans[i]);
    let title = root.map(label).unwrap_or_default();
    writeln!(
        out,
        "{}",
        truncate(
            &format!(
                "━━ {title}  ({} spans, {}, {errors} with warnings)",
                spans.len(),
                seconds(total)
            ),
            WIDTH
        )
    )?;
    let started = time::format(t0);
    writeln!(out, "{}", truncate(&format!("   trace {}  started {started}", hex(trace)), WIDTH))?;
    if let Some(who) = root.and_then(|r| r.attribute("kspan.change.manager")) {
        let op = root
            .and_then(|r| r.attribute("kspan.change.operation"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        writeln!(out, "   changed by {who} ({op})")?;
    }
    // The step that took longest (a span with no children), marked ▶ below.
    let slowest = (0..spans.len())
        .filter(|i| !children.contains_key(&Some(*i)))
        .max_by_key(|&i| (spans[i].end - spans[i].start, std::cmp::Reverse(spans[i].start)));
    if let Some(i) = slowest.filter(|&i| spans[i].end > spans[i].start) {
        let line = format!(
            "   slowest: {} ({})",
            label(&spans[i]),
            seconds(spans[i].end - spans[i].start)
        );
        writeln!(out, "{}", truncate(&line, WIDTH))?;
    }
    writeln!(out, "{:>9} {:>9}  {:<LABEL$} |{}|", "offset", "duration", "span", " ".repeat(BAR))?;
    let mut stack: Vec<(usize, usize)> =
        children.get(&None).into_iter().flatten().rev().map(|&i| (i, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        let s = &spans[i];
        let mark = if matches!(s.status, Status::Error(_)) {
            "!"
        } else if Some(i) == slowest {
            "▶"
        } else {
            " "
        };
        let text = truncate(&format!("{}{}{}", "  ".repeat(depth), mark, label(s)), LABEL);
        writeln!(
            out,
            "{:>9} {:>9}  {:<LABEL$} |{}|",
            format!("+{}", seconds(s.start - t0)),
            seconds(s.end - s.start),
            text,
            bar(s.start, s.end, t0, total)
        )?;
        if show_events {
            for e in &s.events {
                let warning = e
                    .attributes
                    .iter()
                    .any(|(k, v)| *k == "k8s.event.type" && v.to_string() == "Warning");
                let count = e
                    .attributes
                    .iter()
                    .find(|(k, _)| *k == "k8s.event.count")
                    .map(|(_, v)| v.to_string());
                let count =
                    count.filter(|c| c != "1").map(|c| format!(" x{c}")).unwrap_or_default();
                let message = e
                    .attributes
                    .iter()
                    .find(|(k, _)| *k == "k8s.event.message")
                    .map(|(_, v)| format!(": {v}"));
                let line = format!(
                    "{:>9}  {}{} {}{count}{}",
                    format!("+{}", seconds(e.time - t0)),
                    "  ".repeat(depth + 1),
                    match (warning, message.is_some()) {
                        (true, _) => "!",
                        (false, true) => "·",
                        // Not a Kubernetes Event: a status condition that changed.
                        (false, false) => "◇",
                    },
                    e.name,
                    message.unwrap_or_default()
                );
                writeln!(out, "{}", truncate(&line, WIDTH))?;
            }
        }
        if let Status::Error(message) = &s.status {
            writeln!(
                out,
                "{}",
                truncate(&format!("{:>9}  {}error: {message}", "", "  ".repeat(depth + 1)), WIDTH)
            )?;
        }
        if let Some(kids) = children.get(&Some(i)) {
            stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
        }
    }
    Ok(())
}
