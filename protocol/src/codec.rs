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
    check_declared_lengths(bytes).map_err(|detail| Error::Malformed { what, detail })?;
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

/// Walks the CBOR headers of `bytes` without building anything and refuses any length that
/// the input cannot hold: a string longer than what follows it, or arrays and maps declaring
/// more elements — counting those still owed by every enclosing one — than bytes remain (each
/// element takes at least one). Decoding sizes its buffers from these lengths (serde reserves
/// up to 1 MiB per sequence ahead of its elements), so a few bytes claiming 2^32 elements
/// would otherwise cost megabytes at every level of nesting. What this walk does not
/// understand it leaves to the decoder, which reads the same headers in the same order and
/// fails there, before it reaches anything behind them.
pub(crate) fn check_declared_lengths(bytes: &[u8]) -> std::result::Result<(), String> {
    // Elements still to start in each open array or map, innermost last (`None`: indefinite,
    // ended by a break). The sum of the definite ones is what the rest of the input owes.
    let mut open: Vec<Option<u64>> = vec![Some(1)];
    let mut owed: u64 = 1;
    let mut pos = 0;
    while let Some(top) = open.last_mut() {
        let Some((major, info, arg, len)) = read_head(bytes, pos) else {
            return Ok(());
        };
        pos += len;
        let rest = (bytes.len() - pos) as u64;
        if major == 7 && info == 31 {
            // A break ends the innermost indefinite container, which counts as one element of
            // its parent: that was counted when it started.
            if top.is_some() {
                return Ok(());
            }
            open.pop();
        } else {
            // A tag only prefixes the element that follows.
            if major != 6
                && let Some(n) = top
            {
                *n -= 1;
                owed -= 1;
            }
            match (major, arg) {
                (2 | 3, Some(n)) => {
                    if n > rest {
                        return Err(format!(
                            "a string of {n} bytes at byte {} but only {rest} bytes follow",
                            pos - len
                        ));
                    }
                    pos += n as usize;
                }
                (4 | 5, Some(n)) => {
                    let elements = if major == 5 { n.saturating_mul(2) } else { n };
                    owed = owed.saturating_add(elements);
                    if owed > rest {
                        return Err(format!(
                            "{n} {} declared at byte {} but only {rest} bytes follow",
                            if major == 5 {
                                "map entries"
                            } else {
                                "array elements"
                            },
                            pos - len
                        ));
                    }
                    open.push(Some(elements));
                }
                (2..=5, None) => open.push(None),
                _ => {}
            }
            if open.len() > MAX_DEPTH + 2 {
                // The decoder refuses this nesting itself before going deeper.
                return Ok(());
            }
        }
        while open.last() == Some(&Some(0)) {
            open.pop();
        }
    }
    Ok(())
}

/// Counts the CBOR headers in `bytes` read as a sequence of items — every data item, tag and
/// break, but nothing inside strings — stopping once the count passes `cap` or at the first
/// thing that is not CBOR. Also returns the contents of the first byte string met (chunks
/// joined, if it has indefinite length).
pub(crate) fn count_items(bytes: &[u8], cap: usize) -> (usize, Option<Vec<u8>>) {
    enum First {
        NotYet,
        Joining(Vec<u8>),
        Done(Vec<u8>),
    }
    let mut first = First::NotYet;
    let mut count = 0;
    let mut pos = 0;
    while count <= cap {
        let Some((major, info, arg, len)) = read_head(bytes, pos) else {
            break;
        };
        count += 1;
        pos += len;
        let rest = bytes.len() - pos;
        let string = match (major, arg) {
            (2 | 3, Some(n)) if n > rest as u64 => break,
            (2 | 3, Some(n)) => {
                let end = pos + n as usize;
                let contents = &bytes[pos..end];
                pos = end;
                (major == 2).then_some(contents)
            }
            _ => None,
        };
        first = match (first, string) {
            (First::NotYet, Some(contents)) => First::Done(contents.to_vec()),
            (First::NotYet, None) if major == 2 && info == 31 => First::Joining(Vec::new()),
            (First::Joining(mut joined), Some(chunk)) => {
                joined.extend_from_slice(chunk);
                First::Joining(joined)
            }
            (First::Joining(joined), None) => First::Done(joined),
            (first, _) => first,
        };
    }
    let first = match first {
        First::NotYet => None,
        First::Joining(joined) | First::Done(joined) => Some(joined),
    };
    (count, first)
}

/// One CBOR header at `pos`: major type, additional information, argument (`None` when
/// indefinite) and the header's length; `None` where there is no well-formed header.
fn read_head(bytes: &[u8], pos: usize) -> Option<(u8, u8, Option<u64>, usize)> {
    let first = *bytes.get(pos)?;
    let (major, info) = (first >> 5, first & 0x1f);
    let extra = match info {
        0..=23 => 0,
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        31 if matches!(major, 2..=5 | 7) => 0,
        _ => return None,
    };
    let arg = match info {
        0..=23 => Some(u64::from(info)),
        31 => None,
        _ => Some(
            bytes
                .get(pos + 1..pos + 1 + extra)?
                .iter()
                .fold(0u64, |a, b| (a << 8) | u64::from(*b)),
        ),
    };
    Some((major, info, arg, 1 + extra))
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

    /// Found by `tests/fuzz_alloc.rs`: each array header claiming 2^32 elements made serde
    /// reserve 1 MiB before the first element was read, at every level of nesting: 31 MiB
    /// at peak for this stored notice of 380 bytes.
    #[test]
    fn refuses_declared_lengths_the_input_cannot_hold() {
        let mut notice = vec![0xa2, 0x64];
        notice.extend_from_slice(b"type");
        notice.push(0x68);
        notice.extend_from_slice(b"new_case");
        notice.push(0x64);
        notice.extend_from_slice(b"case");
        for _ in 0..40 {
            notice.extend_from_slice(&[0x9b, 0, 0, 0, 1, 0, 0, 0, 0]);
        }
        let err =
            from_cbor::<crate::engine::backoffice::Notice>(&notice, 1 << 20, "notice").unwrap_err();
        assert!(
            err.to_string()
                .contains("4294967296 array elements declared at byte 20"),
            "{err}"
        );

        let err = from_cbor::<Vec<u8>>(&[0x9b, 0, 0, 0, 1, 0, 0, 0, 0], 100, "a").unwrap_err();
        assert!(err.to_string().contains("array elements declared"), "{err}");
        let err =
            from_cbor::<Vec<(u8, u8)>>(&[0xbb, 0, 0, 0, 1, 0, 0, 0, 0], 100, "m").unwrap_err();
        assert!(err.to_string().contains("map entries declared"), "{err}");
        let err = from_cbor::<Vec<u8>>(&[0x5a, 0xff, 0xff, 0xff, 0xff], 100, "s").unwrap_err();
        assert!(
            err.to_string()
                .contains("a string of 4294967295 bytes at byte 0"),
            "{err}"
        );
        // Two elements owed by the outer array, two more declared by the inner one, and only
        // two bytes left: refused, though the inner array alone would fit.
        let err = from_cbor::<Vec<Vec<u8>>>(&[0x82, 0x82, 0x00, 0x00], 100, "n").unwrap_err();
        assert!(
            err.to_string()
                .contains("2 array elements declared at byte 1"),
            "{err}"
        );
        // What fits exactly decodes, indefinite lengths and tags included.
        assert_eq!(
            from_cbor::<Vec<Vec<u8>>>(&[0x82, 0x81, 0x07, 0x80], 100, "n").unwrap(),
            vec![vec![7], vec![]]
        );
        assert_eq!(
            from_cbor::<Vec<u8>>(&[0x9f, 0x01, 0x02, 0xff], 100, "i").unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            from_cbor::<String>(&[0x7f, 0x61, b'a', 0x61, b'b', 0xff], 100, "t").unwrap(),
            "ab"
        );
        assert_eq!(
            from_cbor::<ciborium::Value>(&[0xc1, 0x82, 0x01, 0x02], 100, "tag").unwrap(),
            ciborium::Value::Tag(
                1,
                Box::new(ciborium::Value::Array(vec![1.into(), 2.into()]))
            )
        );
    }

    #[test]
    fn counts_items_outside_strings() {
        // A tagged array of a byte string (holding a one-entry map) and an integer.
        let bytes = [0xd2, 0x82, 0x43, 0xa1, 0x01, 0x02, 0x05];
        assert_eq!(count_items(&bytes, 10), (4, Some(vec![0xa1, 0x01, 0x02])));
        // Indefinite byte strings are joined; counting stops past the cap.
        let bytes = [0x5f, 0x41, 0x01, 0x41, 0x02, 0xff, 0x80];
        assert_eq!(count_items(&bytes, 10), (5, Some(vec![1, 2])));
        assert_eq!(count_items(&[0u8; 100], 10).0, 11);
        assert_eq!(count_items(&[0x5b, 0xff], 10), (0, None));
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
