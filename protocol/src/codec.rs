//! Bounded CBOR encoding and decoding: the one wire format. Every decode is limited in size
//! and nesting before it allocates, so a peer cannot make a node spend memory it did not plan.

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// How deep CBOR may nest in anything a node decodes. Our own structures need fewer than 12.
pub const MAX_DEPTH: usize = 32;

/// Encodes a value as CBOR.
pub fn to_cbor<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).map_err(|e| Error::Malformed {
        what: "value to encode",
        detail: e.to_string(),
    })?;
    Ok(out)
}

/// Decodes exactly one CBOR value of type `T` from `bytes`, refusing input over `limit` bytes,
/// nesting deeper than [`MAX_DEPTH`] or trailing bytes.
pub fn from_cbor<T: DeserializeOwned>(bytes: &[u8], limit: usize, what: &'static str) -> Result<T> {
    if bytes.len() > limit {
        return Err(Error::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    let mut reader = bytes;
    let value = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_DEPTH).map_err(
        |e: ciborium::de::Error<std::io::Error>| Error::Malformed {
            what,
            detail: describe(&e),
        },
    )?;
    if !reader.is_empty() {
        return Err(Error::Malformed {
            what,
            detail: format!("{} trailing bytes after the value", reader.len()),
        });
    }
    Ok(value)
}

fn describe(e: &ciborium::de::Error<std::io::Error>) -> String {
    match e {
        ciborium::de::Error::Io(io) => format!("truncated input ({io})"),
        ciborium::de::Error::Syntax(at) => format!("CBOR syntax error at byte {at}"),
        ciborium::de::Error::Semantic(at, msg) => match at {
            Some(at) => format!("{msg} (at byte {at})"),
            None => msg.clone(),
        },
        ciborium::de::Error::RecursionLimitExceeded => {
            format!("nested deeper than {MAX_DEPTH} levels")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oversized_input_before_parsing() {
        let err = from_cbor::<u8>(&[0u8; 10], 4, "thing").unwrap_err();
        assert_eq!(
            err,
            Error::TooLarge {
                what: "thing",
                size: 10,
                limit: 4
            }
        );
    }

    #[test]
    fn refuses_deep_nesting() {
        // 100 nested one-element arrays: 0x81 ... 0x00
        let mut bytes = vec![0x81u8; 100];
        bytes.push(0);
        let err = from_cbor::<ciborium::Value>(&bytes, 1000, "nest").unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }

    #[test]
    fn refuses_trailing_bytes_and_truncation() {
        let err = from_cbor::<u8>(&[0x01, 0x02], 10, "n").unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        let err = from_cbor::<String>(&[0x65, b'a'], 10, "s").unwrap_err();
        assert!(matches!(err, Error::Malformed { .. }), "{err}");
    }

    #[test]
    fn round_trips() {
        let v = (1u32, "区".to_string(), vec![1u8, 2]);
        let bytes = to_cbor(&v).unwrap();
        assert_eq!(
            from_cbor::<(u32, String, Vec<u8>)>(&bytes, 100, "t").unwrap(),
            v
        );
    }
}
