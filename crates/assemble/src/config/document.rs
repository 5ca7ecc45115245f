//! Reading TOML with spans: `toml_edit` parses the document keeping the
//! byte range of every key and value; this module flattens its item types
//! (tables and inline tables, arrays and arrays of tables) into one small
//! tree the checks walk.
//!
//! Tables declared only implicitly (`package.metadata` in
//! `[package.metadata.image]`) have no span of their own; their keys do.

use std::ops::Range;

use toml_edit::{Item, Value};

/// A TOML value with its span.
#[derive(Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub span: Option<Range<usize>>,
}

/// What a value is.
#[derive(Debug)]
pub(crate) enum Kind {
    Str(String),
    Int(i64),
    Float,
    Bool,
    Datetime,
    /// JSON's null (tables read by [`json`](super::json) only).
    Null,
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// A key of a table and its value.
#[derive(Debug)]
pub(crate) struct Entry {
    pub key: String,
    pub key_span: Option<Range<usize>>,
    pub value: Node,
}

impl Node {
    /// "a string", "an array", … for messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Str(_) => "a string",
            Kind::Int(_) => "an integer",
            Kind::Float => "a float",
            Kind::Bool => "a boolean",
            Kind::Datetime => "a datetime",
            Kind::Null => "null",
            Kind::Array(_) => "an array",
            Kind::Table(_) => "a table",
        }
    }

    /// The value's span, or `at` when it has none.
    pub fn span_or(&self, at: &Range<usize>) -> Range<usize> {
        self.span.clone().unwrap_or_else(|| at.clone())
    }

    /// The entries of a table.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The value of key `name` of a table.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == name)
    }
}

/// A syntax error: where and what.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub span: Range<usize>,
    pub message: String,
}

/// Parses `text` into the root table.
pub(crate) fn parse(text: &str) -> Result<Node, SyntaxError> {
    let doc = toml_edit::ImDocument::parse(text).map_err(|e| SyntaxError {
        span: e.span().unwrap_or(0..0),
        message: e.message().trim_end().to_owned(),
    })?;
    Ok(table(doc.as_table()))
}

fn table(t: &toml_edit::Table) -> Node {
    let entries = t
        .iter()
        .map(|(k, item)| Entry {
            key: k.to_owned(),
            key_span: t.key(k).and_then(|k| k.span()),
            value: item_node(item),
        })
        .collect();
    Node {
        kind: Kind::Table(entries),
        span: t.span(),
    }
}

fn item_node(item: &Item) -> Node {
    match item {
        Item::Value(v) => value_node(v),
        Item::Table(t) => table(t),
        Item::ArrayOfTables(a) => Node {
            kind: Kind::Array(a.iter().map(table).collect()),
            span: a.span(),
        },
        Item::None => Node {
            kind: Kind::Table(Vec::new()),
            span: None,
        },
    }
}

fn value_node(v: &Value) -> Node {
    let kind = match v {
        Value::String(s) => Kind::Str(s.value().clone()),
        Value::Integer(i) => Kind::Int(*i.value()),
        Value::Float(_) => Kind::Float,
        Value::Boolean(_) => Kind::Bool,
        Value::Datetime(_) => Kind::Datetime,
        Value::Array(a) => Kind::Array(a.iter().map(value_node).collect()),
        Value::InlineTable(t) => Kind::Table(
            t.iter()
                .map(|(k, v)| Entry {
                    key: k.to_owned(),
                    key_span: t.key(k).and_then(|k| k.span()),
                    value: value_node(v),
                })
                .collect(),
        ),
    };
    Node {
        kind,
        span: v.span(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_of_keys_values_and_nested_tables() {
        let text = "[image]\nname = \"a\"\nlist = [\"x\", 1]\n[image.env]\nK = \"v\"\n";
        let root = parse(text).unwrap();
        let image = &root.get("image").unwrap().value;
        let name = image.get("name").unwrap();
        assert_eq!(&text[name.key_span.clone().unwrap()], "name");
        assert_eq!(&text[name.value.span.clone().unwrap()], "\"a\"");
        let Kind::Array(items) = &image.get("list").unwrap().value.kind else {
            panic!()
        };
        assert_eq!(items[1].type_name(), "an integer");
        assert_eq!(&text[items[1].span.clone().unwrap()], "1");
        let k = image.get("env").unwrap().value.get("K").unwrap();
        assert_eq!(&text[k.key_span.clone().unwrap()], "K");
        let e = parse("[image]\nname = \"a\nx = 1\n").err().unwrap();
        assert!(e.span.start > 8, "{}", e.message);
    }
}
