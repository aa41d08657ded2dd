//! Durations as scenario files write them: `250ms`, `30s`, `5m`, `2h`, `1d`, or sums such as
//! `1h30m`; skews may be negative (`-90s`). Kept in milliseconds of simulated time.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative span of simulated time, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub u64);

/// A span that may be negative (a clock skew), in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SignedDur(pub i64);

impl Dur {
    /// Milliseconds in a second, minute, hour, day.
    pub const SECOND: u64 = 1_000;
    /// Milliseconds in a minute.
    pub const MINUTE: u64 = 60_000;
    /// Milliseconds in an hour.
    pub const HOUR: u64 = 3_600_000;
    /// Milliseconds in a day.
    pub const DAY: u64 = 86_400_000;

    /// Parses `1h30m`-style text.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("an empty duration; write one such as \"30s\", \"5m\" or \"1h30m\"".into());
        }
        if let Some(rest) = t.strip_prefix('-') {
            return Err(format!(
                "{rest:?} with a minus sign: this duration cannot be negative"
            ));
        }
        let mut total: u64 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad(text));
            }
            let (number, tail) = rest.split_at(digits);
            let unit_len = tail.chars().take_while(char::is_ascii_alphabetic).count();
            let (unit, tail) = tail.split_at(unit_len);
            let n: u64 = number.parse().map_err(|_| bad(text))?;
            let scale = match unit {
                "ms" => 1,
                "s" => Dur::SECOND,
                "m" | "min" => Dur::MINUTE,
                "h" => Dur::HOUR,
                "d" => Dur::DAY,
                _ => return Err(bad(text)),
            };
            total = n
                .checked_mul(scale)
                .and_then(|x| total.checked_add(x))
                .ok_or_else(|| format!("{text:?} is too long a duration"))?;
            rest = tail.trim_start();
        }
        Ok(Dur(total))
    }

    /// The span in milliseconds.
    pub fn ms(self) -> u64 {
        self.0
    }
}

impl SignedDur {
    /// Parses text such as `-90s` or `2m`.
    pub fn parse(text: &str) -> Result<SignedDur, String> {
        let t = text.trim();
        let (negative, body) = match t.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let d = Dur::parse(body)?;
        let v = i64::try_from(d.0).map_err(|_| format!("{text:?} is too long a skew"))?;
        Ok(SignedDur(if negative { -v } else { v }))
    }
}

fn bad(text: &str) -> String {
    format!(
        "{text:?} is not a duration: write a number and a unit (ms, s, m, h, d), such as \"250ms\", \"30s\", \"1h30m\" or \"2d\""
    )
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", Dur::DAY),
            ("h", Dur::HOUR),
            ("m", Dur::MINUTE),
            ("s", Dur::SECOND),
        ] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        if ms > 0 {
            write!(f, "{ms}ms")?;
        }
        Ok(())
    }
}

impl fmt::Display for SignedDur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-{}", Dur(self.0.unsigned_abs()))
        } else {
            write!(f, "{}", Dur(self.0.unsigned_abs()))
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let text = String::deserialize(d)?;
        Dur::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SignedDur, D::Error> {
        let text = String::deserialize(d)?;
        SignedDur::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for SignedDur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A simulated instant shown as China time, `2026-03-02 09:15:30.250`.
pub fn show_instant(ms: u64) -> String {
    const CST: u64 = 8 * Dur::HOUR;
    let t = ms.saturating_add(CST);
    let date = tongban_protocol::case::calendar::Date::of(tongban_protocol::ids::Timestamp(ms));
    let in_day = t % Dur::DAY;
    let (h, m, s, milli) = (
        in_day / Dur::HOUR,
        in_day % Dur::HOUR / Dur::MINUTE,
        in_day % Dur::MINUTE / Dur::SECOND,
        in_day % Dur::SECOND,
    );
    format!("{date} {h:02}:{m:02}:{s:02}.{milli:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows() {
        assert_eq!(Dur::parse("250ms"), Ok(Dur(250)));
        assert_eq!(Dur::parse("1h30m"), Ok(Dur(90 * Dur::MINUTE)));
        assert_eq!(Dur::parse("2d"), Ok(Dur(2 * Dur::DAY)));
        assert_eq!(Dur::parse("1h 5s"), Ok(Dur(Dur::HOUR + 5000)));
        assert_eq!(SignedDur::parse("-90s"), Ok(SignedDur(-90_000)));
        assert!(Dur::parse("10").is_err());
        assert!(Dur::parse("5 parsecs").is_err());
        assert!(Dur::parse("-5s").unwrap_err().contains("negative"));
        assert_eq!(Dur(90 * Dur::MINUTE + 250).to_string(), "1h30m250ms");
        assert_eq!(SignedDur(-90_000).to_string(), "-1m30s");
        assert_eq!(show_instant(1_772_380_800_000), "2026-03-02 00:00:00.000");
    }
}
