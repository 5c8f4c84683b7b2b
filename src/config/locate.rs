//! Maps a key path such as `apps[0].routes[1].upstream` to its line in a YAML file, so that
//! errors found after parsing (validation) can still point at `file:line`.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

#[derive(Debug, Default, Clone)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

impl Builder {
    /// Path of the node that starts now, recording its line; advances the parent.
    fn enter_value(&mut self, line: usize) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Map { path, key }) => {
                let k = key.take()?;
                Some(join(path, &k))
            }
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                self.lines.entry(p.clone()).or_insert(line);
                Some(p)
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                    if key.is_none() {
                        self.lines.entry(join(path, &value)).or_insert(line);
                        *key = Some(value);
                        return;
                    }
                }
                self.enter_value(line);
            }
            Event::Alias(_) => {
                self.enter_value(line);
            }
            Event::MappingStart(..) => {
                let path = self.enter_value(line).unwrap_or_default();
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.enter_value(line).unwrap_or_default();
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl LineIndex {
    /// Best effort: a file that does not parse yields an empty index (the parse error itself
    /// carries a line).
    pub fn build(text: &str) -> LineIndex {
        let mut b = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut b, false).is_err() {
            return LineIndex::default();
        }
        LineIndex { lines: b.lines }
    }

    /// The line of `path`, or of its nearest ancestor that is known.
    /// Whether the file writes `path` itself (not only a parent of it).
    pub fn has(&self, path: &str) -> bool {
        self.lines.contains_key(path)
    }

    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_items() {
        let text = "server:\n  listen: 1\napps:\n  - id: wiki\n    routes:\n      - hosts: [a]\n        upstream: x\n  - id: two\n";
        let idx = LineIndex::build(text);
        assert_eq!(idx.line_of("server.listen"), Some(2));
        assert_eq!(idx.line_of("apps[0].routes[0].upstream"), Some(7));
        assert_eq!(idx.line_of("apps[1].id"), Some(8));
        assert_eq!(idx.line_of("apps[1].nothing"), Some(8));
        assert_eq!(idx.line_of("apps[0].routes[0].hosts[0]"), Some(6));
        assert_eq!(idx.line_of("nothing"), None);
    }
}
