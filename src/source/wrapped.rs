//! Kubernetes documents pasted into other text: a dump between the ``` fences
//! of a markdown file (an issue, a wiki page), or text with no document at all.

/// A fenced code block's content, its indentation removed.
pub struct Block {
    pub text: String,
    /// 1-based line of the file where the content starts.
    pub line: usize,
}

/// The opening fence a line is, if it is one: its indentation, character and
/// length. An info string may follow (```` ```json ````).
fn opening(line: &str) -> Option<(usize, char, usize)> {
    let fence = line.trim_start_matches(' ');
    let indent = line.len() - fence.len();
    let mark = fence.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = fence.len() - fence.trim_start_matches(mark).len();
    let info = &fence[length..];
    // A backtick fence's info string has no backtick: "```a```" is inline code.
    (length >= 3 && !(mark == '`' && info.contains('`'))).then_some((indent, mark, length))
}

/// Closes a block opened by `mark` repeated `length` times.
fn closes(line: &str, mark: char, length: usize) -> bool {
    let fence = line.trim();
    fence.len() >= length && fence.chars().all(|c| c == mark)
}

/// The fenced code blocks of markdown text, in order; one left open runs to the
/// end of the text, as markdown reads it.
pub fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, char, usize, Block)> = None;
    for (index, line) in text.lines().enumerate() {
        match &mut open {
            None => {
                if let Some((indent, mark, length)) = opening(line) {
                    let block = Block { text: String::new(), line: index + 2 };
                    open = Some((indent, mark, length, block));
                }
            }
            Some((_, mark, length, _)) if closes(line, *mark, *length) => {
                blocks.extend(open.take().map(|(.., block)| block));
            }
            Some((indent, _, _, block)) => {
                let strip = line.len() - line.trim_start_matches(' ').len();
                block.text.push_str(&line[strip.min(*indent)..]);
                block.text.push('\n');
            }
        }
    }
    blocks.extend(open.map(|(.., block)| block));
    blocks
}

/// Whether `text` names a Kubernetes field (`kind`, `apiVersion`, `metadata`)
/// as a YAML or JSON key: a broken document then, not other text.
pub fn mentions_kubernetes(text: &str) -> bool {
    const KEYS: [&str; 3] = ["kind", "apiVersion", "metadata"];
    let a_value_follows = |rest: &str| rest.trim_start().starts_with(':');
    text.lines().any(|line| {
        let line = line.trim_start();
        let line = line.strip_prefix("- ").unwrap_or(line);
        KEYS.iter().any(|key| {
            line.strip_prefix(key).is_some_and(a_value_follows)
                || line.match_indices(key).any(|(at, _)| {
                    line[..at].ends_with('"')
                        && line[at + key.len()..].strip_prefix('"').is_some_and(a_value_follows)
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_blocks_are_found_with_their_lines() {
        let text = "Dump below:\n\n```json\n{\"kind\": \"List\"}\n```\nand\n  ~~~~\n  kind: Pod\n   x\n  ~~~\n  ~~~~~\nthen ```inline``` and\n```\nopen to the end\n";
        let blocks = fenced_blocks(text);
        let found: Vec<(&str, usize)> = blocks.iter().map(|b| (b.text.as_str(), b.line)).collect();
        assert_eq!(
            found,
            [("{\"kind\": \"List\"}\n", 4), ("kind: Pod\n x\n~~~\n", 8), ("open to the end\n", 14)]
        );
        assert!(fenced_blocks("kind: Pod\nmetadata:\n  name: x\n").is_empty());
    }

    #[test]
    fn kubernetes_keys_are_told_from_prose() {
        for text in [
            "apiVersion: v1\n",
            "items:\n- kind: Pod\n",
            "{\"metadata\": {}}",
            "  \"kind\" : \"Pod\",\n",
        ] {
            assert!(mentions_kubernetes(text), "{text}");
        }
        for text in
            ["I ran it on a kind cluster: v0.11\n", "kindness: none\n", "say \"kind\".\n", ""]
        {
            assert!(!mentions_kubernetes(text), "{text}");
        }
    }
}
