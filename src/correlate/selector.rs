//! Kubernetes label selectors (`a=b,c!=d,e in (x,y),f notin (z),!g,h`), matched
//! against the labels of a rollout's top-level object.

use std::fmt;

use crate::observe::Name;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

/// Every requirement must hold (the comma is an AND, as in kubectl's `-l`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    text: String,
    requirements: Vec<Requirement>,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let requirements = split_top_level(text)
            .into_iter()
            .filter(|part| !part.trim().is_empty())
            .map(|part| requirement(part.trim()).map_err(|e| format!("{text:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if requirements.is_empty() {
            return Err(format!("{text:?}: empty selector"));
        }
        Ok(Selector { text: text.to_string(), requirements })
    }

    /// `labels` are (key, value) pairs; an object never seen has none, so only
    /// `!key`, `key!=v` and `key notin (...)` requirements hold for it.
    pub fn matches(&self, labels: &[(Name, Name)]) -> bool {
        let get = |key: &str| labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|have| vs.iter().any(|v| v == have)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|have| vs.iter().all(|v| v != have)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::Absent(k) => get(k).is_none(),
        })
    }
}

/// Splits at the commas that separate requirements, not those inside `( )`.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::Absent(label_key(key.trim())?));
    }
    for (op, make) in [
        ("!=", Requirement::NotEquals as fn(String, String) -> Requirement),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = part.split_once(op) {
            return Ok(make(label_key(key.trim())?, label_value(value.trim())?));
        }
    }
    if let Some(open) = part.find('(') {
        let head: Vec<&str> = part[..open].split_whitespace().collect();
        let values = part[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("{part:?}: missing ')'"))?
            .split(',')
            .map(|v| label_value(v.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        return match head.as_slice() {
            [key, "in"] => Ok(Requirement::In(label_key(key)?, values)),
            [key, "notin"] => Ok(Requirement::NotIn(label_key(key)?, values)),
            _ => Err(format!("{part:?}: expected `key in (...)` or `key notin (...)`")),
        };
    }
    Ok(Requirement::Exists(label_key(part)?))
}

fn label_key(key: &str) -> Result<String, String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "-_./".contains(c);
    if key.is_empty() || !key.chars().all(valid) {
        return Err(format!("invalid label key {key:?}"));
    }
    Ok(key.to_string())
}

fn label_value(value: &str) -> Result<String, String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if !value.chars().all(valid) {
        return Err(format!("invalid label value {value:?}"));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(Name, Name)> {
        pairs.iter().map(|(k, v)| (Name::from(*k), Name::from(*v))).collect()
    }

    #[test]
    fn every_operator() {
        let s =
            Selector::parse("a=b,c!=d,e in (x, y),f notin (z),!g,h,app.kubernetes.io/name==web")
                .unwrap();
        let good = labels(&[
            ("a", "b"),
            ("e", "y"),
            ("f", "w"),
            ("h", ""),
            ("app.kubernetes.io/name", "web"),
        ]);
        assert!(s.matches(&good));
        for (key, value) in [("a", "x"), ("c", "d"), ("e", "q"), ("f", "z"), ("g", "1")] {
            let mut bad = good.clone();
            bad.retain(|(k, _)| k != key);
            bad.push((key.into(), value.into()));
            assert!(!s.matches(&bad), "{key}={value}");
        }
        let mut without_h = good.clone();
        without_h.retain(|(k, _)| k != "h");
        assert!(!s.matches(&without_h));
    }

    #[test]
    fn no_labels_match_only_negative_requirements() {
        assert!(Selector::parse("!canary,tier!=db,env notin (dev)").unwrap().matches(&[]));
        assert!(!Selector::parse("app=web").unwrap().matches(&[]));
        assert!(!Selector::parse("app").unwrap().matches(&[]));
    }

    #[test]
    fn malformed_selectors_are_refused() {
        for bad in ["", ",", "a in (x", "a between (x)", "=b", "a=b c", "!"] {
            assert!(Selector::parse(bad).is_err(), "{bad:?}");
        }
    }
}
