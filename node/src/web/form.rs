//! Submitted forms: the fields as sent (names may repeat), and the checks a window's form
//! makes before the engine sees it, so that each error can stand beside its field, in Chinese,
//! with the fix.

use std::collections::BTreeMap;

/// A submitted `application/x-www-form-urlencoded` body, in order.
#[derive(Debug, Default, Clone)]
pub(super) struct Fields(Vec<(String, String)>);

impl Fields {
    /// Parses a body; a malformed pair is kept as far as it decodes (browsers send well-formed
    /// bodies, and a field that does not decode is simply missing).
    pub(super) fn parse(body: &[u8]) -> Fields {
        let text = String::from_utf8_lossy(body);
        Fields(
            text.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; empty when absent.
    /// Fields given as pairs, as a page fills a form in for the window.
    pub(super) fn from_pairs(pairs: Vec<(String, String)>) -> Fields {
        Fields(pairs)
    }

    pub(super) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// Whether a checkbox `name` was ticked.
    pub(super) fn ticked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// Every value of `name`.
    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .collect()
    }
}

/// Percent-decoding of one form component (`+` is a space), as the API decodes its query;
/// a component that does not decode is kept as sent.
pub(super) fn decode(s: &str) -> String {
    crate::api::decode(s).unwrap_or_else(|_| s.to_string())
}

/// Percent-encoding for a query component.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Errors found in a form, by field name, in Chinese, each with its fix.
#[derive(Debug, Default)]
pub(super) struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    pub(super) fn add(&mut self, field: &str, what: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| what.into());
    }

    pub(super) fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks a 居民身份证 number: 18 characters, a valid birth date, and the GB 11643 check digit.
/// The error says what is wrong, in Chinese.
pub(super) fn check_resident_id(n: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = n.chars().collect();
    if chars.len() != 18 {
        return Err("居民身份证号码应为18位，请核对证件后重新输入");
    }
    if !chars[..17].iter().all(char::is_ascii_digit) {
        return Err("前17位应为数字");
    }
    let digits: Vec<u32> = chars[..17].iter().filter_map(|c| c.to_digit(10)).collect();
    let month = digits[10] * 10 + digits[11];
    let day = digits[12] * 10 + digits[13];
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err("号码中的出生日期不正确，请核对");
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    let expected = CHECK[(sum % 11) as usize];
    if chars[17].to_ascii_uppercase() != expected {
        return Err("校验位不符，号码可能输错了一位，请逐位核对");
    }
    Ok(())
}

/// Checks a mainland mobile number (11 digits starting with 1) or a landline with area code.
pub(super) fn check_phone(p: &str) -> Result<(), &'static str> {
    let digits: String = p.chars().filter(|c| *c != '-' && *c != ' ').collect();
    let ok = digits.chars().all(|c| c.is_ascii_digit())
        && ((digits.len() == 11 && digits.starts_with('1'))
            || ((10..=12).contains(&digits.len()) && digits.starts_with('0')));
    if ok {
        Ok(())
    } else {
        Err("请填写11位手机号码，或带区号的固定电话（如 022-12345678）")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_repeat_and_trim() {
        let f = Fields::parse("a=%E5%BC%A0%E4%B8%89&b=1+2&c=x&c=y&t=on&bad=%zz".as_bytes());
        assert_eq!(f.get("a"), "张三");
        assert_eq!(f.get("b"), "1 2");
        assert_eq!(f.all("c"), ["x", "y"]);
        assert!(f.ticked("t") && !f.ticked("u"));
        assert_eq!(f.get("bad"), "%zz");
        assert_eq!(f.get("missing"), "");
        assert_eq!(decode(&encode("/cases/1?x=张")), "/cases/1?x=张");
    }

    #[test]
    fn resident_id_numbers_are_checked_to_the_check_digit() {
        assert!(check_resident_id("11010519491231002X").is_ok());
        assert!(check_resident_id("11010519491231002x").is_ok());
        assert!(check_resident_id("110105194912310021").is_err());
        assert!(check_resident_id("1101051949123100").is_err());
        assert!(check_resident_id("110105194913310024").is_err());
    }

    #[test]
    fn phones_are_mobile_or_landline() {
        assert!(check_phone("13800138000").is_ok());
        assert!(check_phone("022-12345678").is_ok());
        assert!(check_phone("12345").is_err());
        assert!(check_phone("2380013800a").is_err());
    }
}
