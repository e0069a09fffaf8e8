//! The map from YAML paths (`zones[0].records[1].pools[0].check`) to the 1-based line
//! they are written on, built from yaml-rust2's marked events; also YAML syntax errors.

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// `parent.key`, or `key` at the top.
pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// A YAML syntax error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Lines of every key and sequence item of a document, by path.
#[derive(Debug, Default, Clone)]
pub struct LineMap {
    lines: HashMap<String, usize>,
    duplicates: Vec<(String, usize)>,
}

impl LineMap {
    /// Parses `text`; a syntax error comes back with its line and column.
    pub fn parse(text: &str) -> Result<Self, SyntaxError> {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        // Events are pulled one at a time: `Parser::load` recurses once per nesting level,
        // which a deeply nested document turns into a stack overflow.
        loop {
            let (event, mark) = parser.next_token().map_err(|e| SyntaxError {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_string(),
            })?;
            if event == Event::StreamEnd {
                break;
            }
            builder.on_event(event, mark);
        }
        if let Some(line) = builder.second_document {
            return Err(SyntaxError {
                line,
                column: 1,
                message: "a configuration file holds one YAML document; found a second one".into(),
            });
        }
        Ok(Self {
            lines: builder.lines,
            duplicates: builder.duplicates,
        })
    }

    /// Keys written twice in the same mapping: their paths and the lines of the repeats.
    pub fn duplicates(&self) -> &[(String, usize)] {
        &self.duplicates
    }

    /// The line of `path` itself, if it is written in the document.
    #[cfg(test)]
    pub fn exact(&self, path: &str) -> Option<usize> {
        self.lines.get(path).copied()
    }

    /// The line of `path`, or of its nearest ancestor that is written in the document.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(line) = self.lines.get(p) {
                return Some(*line);
            }
            p = parent(p)?;
        }
    }
}

/// The path one level up: `a.b[2]` → `a.b` → `a` → ``; `None` above the top.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        if let Some(i) = path.rfind('[') {
            return Some(&path[..i]);
        }
    }
    Some(path.rfind('.').map_or("", |i| &path[..i]))
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        seen: HashSet<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
    duplicates: Vec<(String, usize)>,
    documents: usize,
    second_document: Option<usize>,
}

impl Builder {
    /// Where the node that starts now sits, and whether it is a mapping key.
    fn place(&self) -> (String, bool) {
        match self.stack.last() {
            None => (String::new(), false),
            Some(Frame::Map { path, key: None, .. }) => (join_key(path, "?"), true),
            Some(Frame::Map {
                path, key: Some(key), ..
            }) => (join_key(path, key), false),
            Some(Frame::Seq { path, next }) => (join_index(path, *next), false),
        }
    }

    /// A node finished: its parent moves on to the next key, value or item.
    fn finished(&mut self, key_text: Option<String>) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => {
                *key = match key.take() {
                    // The node was a key: the value comes next.
                    None => Some(key_text.unwrap_or_else(|| "?".to_string())),
                    // The node was a value: a key comes next.
                    Some(_) => None,
                }
            }
            Some(Frame::Seq { next, .. }) => *next += 1,
            None => {}
        }
    }

    fn node_start(&mut self, mark: Marker) -> String {
        let (path, _) = self.place();
        // The document itself has no line: a problem with no better place has none.
        if !path.is_empty() {
            self.lines.entry(path.clone()).or_insert(mark.line());
        }
        path
    }
}

impl Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 && self.second_document.is_none() {
                    self.second_document = Some(mark.line());
                }
            }
            Event::Scalar(value, ..) => {
                let (path, is_key) = self.place();
                if is_key {
                    if let Some(Frame::Map { path: parent, seen, .. }) = self.stack.last_mut() {
                        let key_path = join_key(parent, &value);
                        if !seen.insert(value.clone()) {
                            self.duplicates.push((key_path.clone(), mark.line()));
                        }
                        self.lines.entry(key_path).or_insert(mark.line());
                    }
                    self.finished(Some(value));
                } else {
                    if !path.is_empty() {
                        self.lines.entry(path).or_insert(mark.line());
                    }
                    self.finished(None);
                }
            }
            Event::Alias(_) => {
                self.node_start(mark);
                self.finished(None);
            }
            Event::MappingStart(..) => {
                let path = self.node_start(mark);
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    seen: HashSet::new(),
                });
            }
            Event::SequenceStart(..) => {
                let path = self.node_start(mark);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.finished(None);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
agent:
  id: a
  peers: [ \"http://x\", \"http://y\" ]
providers:
  pdns-a:
    kind: powerdns
    url:
      http://127.0.0.1:8081
zones:
  - name: example.test.
    records:
      - name: www
        pools:
          - { name: a, values: [ 192.0.2.1 ] }
          - name: b
            check: web-eu
checks: {}
";

    #[test]
    fn keys_and_items_have_their_lines() {
        let map = LineMap::parse(DOC).unwrap();
        assert_eq!(map.exact("agent"), Some(1));
        assert_eq!(map.exact("agent.id"), Some(2));
        assert_eq!(map.exact("agent.peers[1]"), Some(3));
        assert_eq!(map.exact("providers.pdns-a"), Some(5));
        assert_eq!(map.exact("providers.pdns-a.kind"), Some(6));
        assert_eq!(
            map.exact("providers.pdns-a.url"),
            Some(7),
            "the key's line, not the value's"
        );
        assert_eq!(map.exact("zones[0]"), Some(10));
        assert_eq!(map.exact("zones[0].records[0].name"), Some(12));
        assert_eq!(map.exact("zones[0].records[0].pools[0].values[0]"), Some(14));
        assert_eq!(map.exact("zones[0].records[0].pools[1]"), Some(15));
        assert_eq!(map.exact("zones[0].records[0].pools[1].check"), Some(16));
        assert_eq!(map.exact("checks"), Some(17));
        assert_eq!(map.exact("zones[0].records[0].pools[1].weight"), None);
    }

    #[test]
    fn missing_paths_fall_back_to_the_nearest_ancestor() {
        let map = LineMap::parse(DOC).unwrap();
        assert_eq!(map.line("zones[0].records[0].pools[1].weight"), Some(15));
        assert_eq!(map.line("zones[0].records[0].pools[7].name"), Some(13));
        assert_eq!(map.line("providers.pdns-a.api_key.env"), Some(5));
        assert_eq!(map.line("nothing.here"), None);
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err = LineMap::parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        let err = LineMap::parse("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
        let err = LineMap::parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.line, 2, "{err:?}");
    }

    #[test]
    fn duplicate_keys_are_found_where_they_repeat() {
        let map = LineMap::parse("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\na: 4\n").unwrap();
        assert_eq!(map.duplicates(), &[("b.c".to_string(), 5), ("a".to_string(), 6)]);
        assert_eq!(map.exact("b.c"), Some(3), "the first one keeps its line");
    }

    #[test]
    fn odd_documents_do_not_confuse_it() {
        for doc in ["", "~", "[]", "? [a, b]\n: c\n", "a: &x { b: 1 }\nc: *x\n", "- - - 1\n"] {
            assert!(LineMap::parse(doc).is_ok(), "{doc:?}");
        }
        let map = LineMap::parse("? [a, b]\n: c\nd: 1\n").unwrap();
        assert_eq!(map.exact("d"), Some(3));
    }
}
