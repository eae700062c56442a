//! The whole pipeline on one input file, as the malformed-input tests and the
//! fuzz target (fuzz/) drive it: neither may ever panic.

use kspan::correlate::{Config, Correlator};
use kspan::observe::{Observation, Observed};
use kspan::sink::convert::ResourceOptions;
use kspan::sink::json;
use kspan::sink::waterfall::Waterfall;
use kspan::source::timeline::Timeline;
use kspan::time::SECOND;

/// The whole pipeline on one input: read, place, correlate (with a tiny pending
/// set, so the overflow path runs too), encode. Returns the number of spans.
pub fn pipeline(name: &str, text: &str) -> usize {
    let observations = Timeline::from_text(name, text);
    let config = Config { pending_limit: 4, settle: 2 * SECOND, ..Config::default() };
    let mut correlator = Correlator::new(config);
    let mut spans = Vec::new();
    let mut last = 0;
    for o in observations {
        last = last.max(o.at);
        spans.extend(correlator.ingest(o));
    }
    spans.extend(
        correlator
            .ingest(Observation { at: last.saturating_add(3 * SECOND), what: Observed::Tick }),
    );
    spans.extend(correlator.finish());
    let _ = json::request(spans.clone(), &ResourceOptions::default());
    let mut view = Waterfall::new(true);
    view.add(&spans);
    view.render(&mut Vec::new()).unwrap();
    spans.len()
}
