//! 电子证照: a licence or certificate a region issued, as a signed document of its own kind, so
//! that any member — and anyone with the roster and an independent COSE implementation — can
//! check it offline: who holds it, what it says, which region issued it, and until when it is
//! valid.
//!
//! The issuing region's node signs it (`tongban/licence; v=1`). [`verify`] checks the
//! signature against the key the issuing region's node held when the licence was issued (its
//! current key, or one it rotated out later; never a revoked one), that the licence is
//! well-formed, and that it is valid on the day asked about.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::case::application::IdType;
use crate::case::date::Date;
use crate::envelope::{Envelope, Signable, open, peek_signer};
use crate::error::{Error, Result};
use crate::ids::{CaseId, Masked, RegionId, Timestamp};
use crate::roster::Roster;

pub mod request;

/// Largest signed licence: the fields of a licence, not its scanned image.
pub const MAX_LICENCE_SIZE: usize = 64 << 10;

/// Who a licence belongs to: a person by 身份证号码 or an organisation by 统一社会信用代码. Its
/// `Debug` masks the name and the number, so a licence never leaks them into a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Holder {
    /// 姓名 or 单位名称.
    pub name: String,
    /// The identity document's kind.
    pub id_type: IdType,
    /// 身份证号码 or 统一社会信用代码.
    pub id_number: String,
}

impl fmt::Debug for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Holder")
            .field("name", &Masked(&self.name))
            .field("id_type", &self.id_type)
            .field("id_number", &Masked(&self.id_number))
            .finish()
    }
}

/// A licence as its issuing region signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Licence {
    /// 证照类型: the kind of licence, as the catalogs' results name it (营业执照, 准予迁入证明);
    /// what an item's materials ask for.
    pub kind: String,
    /// 证照编号: unique within the issuing region and kind.
    pub number: String,
    /// 持证主体.
    pub holder: Holder,
    /// 发证单位: the body that issued it.
    pub issuer: String,
    /// The region whose node signed it.
    pub region: RegionId,
    /// The case that issued it, if a case did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseId>,
    /// When it was issued (signed), by the issuing node's clock.
    pub issued_at: Timestamp,
    /// 有效期起.
    pub valid_from: Date,
    /// 有效期止; none for a licence valid without end (长期有效).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Date>,
    /// The fields its kind carries (经营范围, 住所 …), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl Signable for Licence {
    const KIND: &'static str = "licence";
    const VERSION: u64 = 1;
    const MAX_SIZE: usize = MAX_LICENCE_SIZE;
}

impl Licence {
    /// Every problem with the licence as a document, each naming its field; empty when
    /// well-formed.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut need = |field: &str, value: &str| {
            if value.trim().is_empty() {
                p.push(format!("{field}: must not be empty"));
            }
        };
        need("kind", &self.kind);
        need("number", &self.number);
        need("holder.name", &self.holder.name);
        need("holder.id_number", &self.holder.id_number);
        need("issuer", &self.issuer);
        if let Some(until) = self.valid_until
            && until < self.valid_from
        {
            p.push(format!(
                "valid_until: {until} is before valid_from {}",
                self.valid_from
            ));
        }
        p
    }

    /// Whether the licence is in force on `date`.
    pub fn is_valid_on(&self, date: Date) -> bool {
        self.valid_from <= date && self.valid_until.is_none_or(|until| date <= until)
    }
}

/// A signed licence as it travels inside an event (`result_dispatched`): the COSE bytes in
/// CBOR, hex in JSON. Its digest is what a printed licence's QR code carries.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedLicence(pub Vec<u8>);

impl SignedLicence {
    /// The digest of the envelope in the suite it is signed in (SHA-256, or SM3 for an SM2
    /// signature): the licence's identity on paper and in citations.
    pub fn digest(&self) -> crate::ids::Digest {
        crate::envelope::suite_of(&self.0)
            .unwrap_or_default()
            .digest(&self.0)
    }

    /// The licence inside, without checking its signature (the node that took the event in
    /// checked it with [`verify`]).
    pub fn read(&self) -> Result<Licence> {
        crate::envelope::read_unverified(&self.0)
    }
}

impl fmt::Debug for SignedLicence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedLicence({})", self.digest())
    }
}

impl Serialize for SignedLicence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(&self.0))
        } else {
            serde_bytes::Bytes::new(&self.0).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for SignedLicence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        // Whatever the format says it prefers: hex text, bytes, or a list of bytes (serde's
        // internally tagged enums, as a stored notice is, forget the format's preference).
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SignedLicence;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a signed licence as bytes or hex digits")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                text: &str,
            ) -> std::result::Result<Self::Value, E> {
                hex::decode(text.trim())
                    .map(SignedLicence)
                    .map_err(|e| E::custom(format!("a signed licence in hex: {e}")))
            }
            fn visit_bytes<E: serde::de::Error>(
                self,
                bytes: &[u8],
            ) -> std::result::Result<Self::Value, E> {
                Ok(SignedLicence(bytes.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(
                self,
                bytes: Vec<u8>,
            ) -> std::result::Result<Self::Value, E> {
                Ok(SignedLicence(bytes))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    if out.len() >= MAX_LICENCE_SIZE {
                        return Err(serde::de::Error::custom(format!(
                            "a signed licence is at most {MAX_LICENCE_SIZE} bytes"
                        )));
                    }
                    out.push(b);
                }
                Ok(SignedLicence(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SignedLicence {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^([0-9a-f]{2})+$"))
            .description(Some(
                "A 电子证照 signed by its issuing region's node: the COSE_Sign1 envelope (content type tongban/licence; v=1), in hex.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SignedLicence {}

/// What [`verify`] found a licence to be on the day asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The licence, signed by its region's node.
    pub licence: Envelope<Licence>,
    /// Whether it is in force on that day.
    pub in_force: bool,
}

/// Checks a signed licence as any member (or an auditor holding the roster) would: the
/// envelope opens under the key the issuing region's node held when it issued it, the
/// licence is well-formed, and — reported, not refused — whether it is in force on `on`.
/// `now` is the time of the check, for the roster's validity windows.
pub fn verify(bytes: &[u8], roster: &Roster, on: Date, now: Timestamp) -> Result<Verified> {
    let unverified: Licence = crate::envelope::read_unverified(bytes)?;
    let kid = peek_signer(bytes, Licence::MAX_SIZE)?;
    let key = roster
        .event_key(&kid, &unverified.region, unverified.issued_at, now)
        .map_err(|e| {
            Error::BadEvent(format!(
                "licence {}: not signed by region {}'s node: {e}",
                unverified.number, unverified.region
            ))
        })?;
    let licence = open::<Licence, _>(bytes, &key)?;
    let problems = licence.payload().problems();
    if !problems.is_empty() {
        return Err(Error::BadEvent(format!(
            "licence {}: {}",
            licence.payload().number,
            problems.join("; ")
        )));
    }
    let in_force = licence.payload().is_valid_on(on);
    Ok(Verified { licence, in_force })
}

#[cfg(test)]
mod tests;
