//! The library: licences this region issued or imported, and those other regions gave it;
//! and the licences an application cites, filled in from it and checked.

use super::*;
use crate::case::application::{Application, MaterialSource};
use crate::engine::Actor;
use crate::engine::Engine;
use crate::engine::records;
use crate::error::{Error, Result};
use crate::licence::Licence;
use crate::store::{Store, Table};

impl<S: Store> Engine<S> {
    /// Keeps a signed licence in the library (idempotent by digest).
    pub(in crate::engine) fn keep_licence(
        &mut self,
        signed: &SignedLicence,
        source: LibrarySource,
    ) -> Result<()> {
        let licence = signed.read()?;
        let digest = signed.digest();
        if self
            .store
            .get(Table::Licences, &digest_key(&digest))?
            .is_some()
        {
            return Ok(());
        }
        records::put(
            &mut self.store,
            Table::Licences,
            &digest_key(&digest),
            &LibraryEntry {
                licence: signed.clone(),
                source,
            },
        )?;
        let mut index = holder_prefix(&licence.kind, &licence.holder.id_number);
        index.extend_from_slice(&digest.0);
        self.store.put(Table::Licences, &index, &[])?;
        if licence.region == self.me {
            self.store.put(
                Table::Licences,
                &number_key(&licence.kind, &licence.number),
                &digest.0,
            )?;
        }
        Ok(())
    }

    /// Imports a licence from this region's own 电子证照库: this node signs it as the region's
    /// and keeps it, to answer other regions' requests. Importing the same licence (type and
    /// number) again with the same content gives the licence kept the first time; with other
    /// content it is refused (a library changes a licence by issuing a new number).
    pub fn import_licence(
        &mut self,
        actor: &Actor,
        import: LicenceImport,
        now: Timestamp,
    ) -> Result<IssuedLicence> {
        if !matches!(actor, Actor::Admin | Actor::BackOffice) {
            return Err(Error::Forbidden(
                "only the region's administrator or back office imports licences".into(),
            ));
        }
        let licence = Licence {
            kind: import.kind,
            number: import.number,
            holder: import.holder,
            issuer: import.issuer,
            region: self.me.clone(),
            case: None,
            issued_at: now,
            valid_from: import.valid_from,
            valid_until: import.valid_until,
            fields: import.fields,
        };
        let problems = licence.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidApplication(problems));
        }
        if let Some(held) = self
            .store
            .get(Table::Licences, &number_key(&licence.kind, &licence.number))?
        {
            let digest =
                Digest(held.as_slice().try_into().map_err(|_| {
                    Error::Storage("a licence number's digest is not 32 bytes".into())
                })?);
            let kept = self.library_licence(&digest)?.ok_or_else(|| {
                Error::Storage(format!("licence {digest} is indexed but not kept"))
            })?;
            let mut same = kept.read()?;
            same.issued_at = licence.issued_at;
            if same == licence {
                return Ok(IssuedLicence {
                    digest,
                    licence: kept.read()?,
                });
            }
            return Err(Error::IllegalTransition(format!(
                "licence {} of type {} is already in the library with other content; a changed \
                 licence is issued under a new number",
                licence.number, licence.kind
            )));
        }
        let signed = SignedLicence(self.identity.sign(&licence)?.into_parts().0);
        self.keep_licence(&signed, LibrarySource::Imported)?;
        Ok(IssuedLicence {
            digest: signed.digest(),
            licence,
        })
    }

    /// The signed licence with this digest, if the library holds it.
    pub fn library_licence(&self, digest: &Digest) -> Result<Option<SignedLicence>> {
        Ok(
            records::get::<LibraryEntry>(&self.store, Table::Licences, &digest_key(digest))?
                .map(|e| e.licence),
        )
    }

    /// Every licence the library holds, of one holder when `holder` names an ID number.
    pub fn licence_library(&self, holder: Option<&str>) -> Result<Vec<LibraryLicence>> {
        let mut out = Vec::new();
        for (_, value) in self.store.scan_prefix(Table::Licences, b"d")? {
            let entry: LibraryEntry =
                crate::codec::from_cbor(&value, crate::licence::MAX_LICENCE_SIZE * 2, "licence")?;
            let licence = entry.licence.read()?;
            if holder.is_some_and(|h| h != licence.holder.id_number) {
                continue;
            }
            out.push(LibraryLicence {
                issued: IssuedLicence {
                    digest: entry.licence.digest(),
                    licence,
                },
                source: entry.source,
            });
        }
        Ok(out)
    }

    /// This region's own licence of `kind` for `holder` in force on `on`, the last issued.
    pub(in crate::engine) fn own_licence_in_force(
        &self,
        kind: &str,
        holder: &HolderId,
        on: Date,
    ) -> Result<Option<SignedLicence>> {
        let mut best: Option<(Timestamp, SignedLicence)> = None;
        for (key, _) in self
            .store
            .scan_prefix(Table::Licences, &holder_prefix(kind, &holder.id_number))?
        {
            let Some(raw) = key.get(key.len().saturating_sub(32)..) else {
                continue;
            };
            let Ok(bytes) = <[u8; 32]>::try_from(raw) else {
                continue;
            };
            let Some(signed) = self.library_licence(&Digest(bytes))? else {
                continue;
            };
            let l = signed.read()?;
            if l.region == self.me
                && l.holder.id_type == holder.id_type
                && l.is_valid_on(on)
                && best.as_ref().is_none_or(|(at, _)| l.issued_at > *at)
            {
                best = Some((l.issued_at, signed));
            }
        }
        Ok(best.map(|(_, s)| s))
    }

    /// Fills in the licence of every `e_licence` material a window cites, from the library:
    /// the signed bytes, their size and media type. A digest the library does not hold is
    /// left without, and [`Application::validate_against`] names it.
    pub(in crate::engine) fn fill_cited_licences(
        &self,
        materials: &mut [crate::case::application::SubmittedMaterial],
    ) -> Result<()> {
        for m in materials {
            if m.source != MaterialSource::ELicence {
                m.licence = None;
                continue;
            }
            m.licence = self.library_licence(&m.digest)?;
            if let Some(l) = &m.licence {
                m.size = l.0.len() as u64;
                m.media_type = crate::case::application::LICENCE_MEDIA_TYPE.to_string();
                m.original_checked = false;
            }
        }
        Ok(())
    }

    /// Checks every licence an application cites, as the handling region (and the window's
    /// own node) does: signed by its issuing region's node at the time (never a revoked
    /// one), and in force on the day the application was taken.
    pub(in crate::engine) fn check_cited_licences(
        &self,
        application: &Application,
        now: Timestamp,
    ) -> Result<()> {
        let on = Date::of(application.intake.at);
        let mut problems = Vec::new();
        for m in &application.materials {
            let Some(signed) = &m.licence else {
                continue;
            };
            match crate::licence::verify(&signed.0, &self.roster, on, now) {
                Ok(v) if v.in_force => {}
                Ok(v) => problems.push(format!(
                    "materials: {}: licence {} ({}) is not in force on {on}",
                    m.material,
                    v.licence.payload().number,
                    v.licence.payload().kind
                )),
                Err(e) => problems.push(format!("materials: {}: {e}", m.material)),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidApplication(problems))
        }
    }
}
