//! Reads a parsed TOML document into the config's serde schema ([`super::schema`]) without
//! stopping at the first problem: an unknown key (with the nearest known one as a hint) or a
//! value of the wrong type is written down with its field path (`http.bind`, `tokens[2].role`)
//! and the reading goes on, so an operator sees every problem of the file in one pass.
//!
//! It is a serde `Deserializer` over [`toml::Value`]. The known keys of each table come from
//! the schema's derive (the field list serde hands to `deserialize_struct`), and the words
//! for what was expected from the kind of value asked for, or from the schema's `expecting`.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeOwned, Expected, IntoDeserializer, Visitor};

/// Reads `root` as a `T`, adding every problem found to `problems`; `None` if the document
/// as a whole could not be read (its problems are then in the list).
pub(super) fn read<T: DeserializeOwned>(
    root: &toml::Value,
    problems: &mut Vec<String>,
) -> Option<T> {
    let found = RefCell::new(Vec::new());
    let value = T::deserialize(ValueReader {
        value: root,
        at: String::new(),
        problems: &found,
    });
    problems.append(&mut found.into_inner());
    value.ok()
}

/// Why a value could not be read.
#[derive(Debug)]
pub(super) enum Error {
    /// The problem is in the list already.
    Reported,
    /// A problem serde describes, not yet in the list.
    Message(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Reported => f.write_str("reported"),
            Error::Message(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Message(msg.to_string())
    }
}

/// One value of the document, at its field path, with the list its problems go to.
struct ValueReader<'a> {
    value: &'a toml::Value,
    /// The field path: `""` for the document, `http.bind`, `tokens[2]`.
    at: String,
    problems: &'a RefCell<Vec<String>>,
}

impl ValueReader<'_> {
    /// Writes `error` down (once) with the field path.
    fn report(&self, error: Error) -> Error {
        if let Error::Message(m) = error {
            self.problems.borrow_mut().push(format!("{}: {m}", self.at));
        }
        Error::Reported
    }

    /// Writes down that the value is not the `expected` kind.
    fn wrong_type(&self, expected: &dyn fmt::Display) -> Error {
        self.report(Error::Message(format!(
            "expected {expected}, found {}",
            self.value.type_str()
        )))
    }

    /// The field path of a key of this table.
    fn key(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at)
        }
    }

    /// Writes down every key of `table` not in `known`, suggesting the nearest known one.
    fn unknown_keys(&self, table: &toml::Table, known: &[&str]) {
        for key in table.keys() {
            if known.contains(&key.as_str()) {
                continue;
            }
            let nearest = known
                .iter()
                .map(|k| (edit_distance(key, k), *k))
                .min()
                .filter(|(d, _)| *d <= 2);
            let hint = match nearest {
                Some((_, k)) => format!("did you mean {k}?"),
                None => format!("the fields here are {}", known.join(", ")),
            };
            self.problems
                .borrow_mut()
                .push(format!("{}: unknown field; {hint}", self.key(key)));
        }
    }
}

impl<'de> de::Deserializer<'de> for ValueReader<'_> {
    type Error = Error;

    /// Any value at all (the `[backoffice]` table, read further by the adapters crate): as
    /// the TOML crate's own reading gives it.
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self.value.clone(), visitor)
            .map_err(|e| self.report(Error::Message(e.to_string())))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            toml::Value::String(s) => visitor.visit_str(s).map_err(|e| self.report(e)),
            _ => Err(self.wrong_type(&"a string in quotes")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            toml::Value::Integer(n) => visitor.visit_i64(*n).map_err(|e| self.report(e)),
            _ => Err(self.wrong_type(&"a whole number")),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            toml::Value::Boolean(b) => visitor.visit_bool(*b).map_err(|e| self.report(e)),
            _ => Err(self.wrong_type(&"true or false")),
        }
    }

    /// The config's arrays are arrays of tables (`[[tokens]]`); each entry is read at
    /// `key[i]`.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let toml::Value::Array(items) = self.value else {
            let expected = format!("[[{}]] tables", self.at);
            return Err(self.wrong_type(&expected));
        };
        let entries = Entries {
            items: items.iter().enumerate(),
            at: &self.at,
            problems: self.problems,
        };
        visitor.visit_seq(entries).map_err(|e| self.report(e))
    }

    /// A table of the schema: unknown keys are written down and left out, the known ones
    /// read at `table.key`.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let toml::Value::Table(table) = self.value else {
            let expected = &visitor as &dyn Expected;
            return Err(self.wrong_type(&format_args!("{expected}")));
        };
        self.unknown_keys(table, fields);
        let keys = Keys {
            entries: table
                .iter()
                .filter(|(key, _)| fields.contains(&key.as_str())),
            next: None,
            reader: &self,
        };
        visitor.visit_map(keys).map_err(|e| self.report(e))
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf option unit
        unit_struct newtype_struct tuple tuple_struct map enum identifier ignored_any
    }
}

/// The entries of an array, each read at `key[i]`.
struct Entries<'a, I> {
    items: I,
    at: &'a str,
    problems: &'a RefCell<Vec<String>>,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a toml::Value)>> de::SeqAccess<'de> for Entries<'a, I> {
    type Error = Error;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((i, value)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(ValueReader {
            value,
            at: format!("{}[{i}]", self.at),
            problems: self.problems,
        })
        .map(Some)
    }
}

/// The known keys of a table and their values.
struct Keys<'a, 'r, I> {
    entries: I,
    /// The value of the key last handed out.
    next: Option<(&'a str, &'a toml::Value)>,
    reader: &'r ValueReader<'a>,
}

impl<'de, 'a, I: Iterator<Item = (&'a String, &'a toml::Value)>> de::MapAccess<'de>
    for Keys<'a, '_, I>
{
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.next = Some((key, value));
        seed.deserialize(key.as_str().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self
            .next
            .take()
            .ok_or_else(|| Error::Message("a value without its key".into()))?;
        seed.deserialize(ValueReader {
            value,
            at: self.reader.key(key),
            problems: self.reader.problems,
        })
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelt fields.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
