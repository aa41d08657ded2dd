//! Key files: one secret key per file, as 64 hexadecimal digits and an optional newline: an
//! ed25519 seed, or, prefixed `sm2:`, an SM2 secret key (the `sm` suite, docs/PROTOCOL.md).
//!
//! A node key and a governance key look the same on disk. Files are created with mode 0600
//! (owner only) and never overwritten by accident; reading one that others may read still
//! works but warns, because whoever reads the seed can sign as the region.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use tongban_protocol::envelope::Identity;
use tongban_protocol::suite::Suite;

use crate::error::NodeError;

/// Longest key file read: the 64 digits, a newline, and room for a stray carriage return.
const MAX_KEY_FILE: u64 = 1024;

/// `N` bytes from the operating system's random source, for key seeds and API tokens.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], NodeError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| NodeError::Random(e.to_string()))?;
    Ok(out)
}

/// The prefix of an SM2 key file's digits; an ed25519 key file has none, as before suites.
const SM2_PREFIX: &str = "sm2:";

/// A new identity of `suite` from 32 bytes of operating-system randomness. An SM2 secret
/// must be below the group order (a random one is not with probability about 2^-32): the
/// bytes are drawn again, a few times at most.
pub fn generate(suite: Suite) -> Result<Identity, NodeError> {
    let mut last = None;
    for _ in 0..8 {
        match Identity::from_secret(suite, random_bytes::<32>()?) {
            Ok(id) => return Ok(id),
            Err(e) => last = Some(e),
        }
    }
    Err(NodeError::Random(format!(
        "eight draws of the random source gave no usable {suite} key: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

/// Writes `identity`'s seed to `path` with mode 0600. Refuses to replace an existing file
/// unless `overwrite`, since a replaced key is lost for good; a replacement is written to a
/// temporary file and renamed over the old one, so a crash leaves one key or the other.
pub fn write_key_file(path: &Path, identity: &Identity, overwrite: bool) -> Result<(), NodeError> {
    let io = |what: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| NodeError::Io { what, path, source }
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    make_private_dir(parent).map_err(io("key folder", parent))?;
    let prefix = match identity.suite() {
        Suite::Ed25519 => "",
        Suite::Sm => SM2_PREFIX,
    };
    let mut text = format!("{prefix}{}", hex::encode(identity.seed()));
    text.push('\n');
    if overwrite {
        let name = path
            .file_name()
            .ok_or_else(|| NodeError::KeyFile {
                path: path.to_path_buf(),
                why: "is not a file name".into(),
            })?
            .to_string_lossy()
            .into_owned();
        let tmp: PathBuf = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let written = create_private(&tmp).and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("key file", path)(e));
        }
    } else {
        let mut file = create_private(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                NodeError::KeyFile {
                    path: path.to_path_buf(),
                    why: "already exists; refusing to replace a key (its old value would be \
                          lost for good): choose another file, or pass --force"
                        .into(),
                }
            } else {
                io("key file", path)(e)
            }
        })?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io("key file", path))?;
    }
    sync_dir(parent);
    Ok(())
}

/// Reads the identity in the key file at `path`. Refuses anything but 64 hexadecimal digits
/// and an optional newline, without ever echoing the content; warns when group or others
/// may access the file.
pub fn read_key_file(path: &Path) -> Result<Identity, NodeError> {
    read(path, true)
}

/// Copies the key in `from` to `to` with mode 0600, replacing `to`, and without the warning
/// about `from`'s mode: for keys that are public by design, such as the demo's, whose files a
/// fresh clone leaves readable by all.
pub fn copy_key_file(from: &Path, to: &Path) -> Result<(), NodeError> {
    let identity = read(from, false)?;
    write_key_file(to, &identity, true)
}

/// Reads a key file as [`read_key_file`] does; warns about its mode only if `warn`.
fn read(path: &Path, warn: bool) -> Result<Identity, NodeError> {
    let io = |source| NodeError::Io {
        what: "key file",
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(NodeError::KeyFile {
            path: path.to_path_buf(),
            why: "is not a regular file".into(),
        });
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(NodeError::KeyFile {
            path: path.to_path_buf(),
            why: format!(
                "is {} bytes; a key file holds 64 hexadecimal digits and an optional newline \
                 (make one with `tongban keygen --out FILE`)",
                meta.len()
            ),
        });
    }
    if warn {
        warn_if_shared(path, &meta);
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let refused = |why| NodeError::KeyFile {
        path: path.to_path_buf(),
        why,
    };
    let (suite, seed) = parse_seed(&bytes).map_err(refused)?;
    Identity::from_secret(suite, seed).map_err(|e| refused(e.to_string()))
}

/// The suite and secret in a key file's bytes, or what is wrong with them (never the bytes
/// themselves).
fn parse_seed(bytes: &[u8]) -> Result<(Suite, [u8; 32]), String> {
    let body = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    let (suite, body) = match body.strip_prefix(SM2_PREFIX.as_bytes()) {
        Some(rest) => (Suite::Sm, rest),
        None => (Suite::Ed25519, body),
    };
    let fix = "a key file holds exactly 64 hexadecimal digits (the ed25519 seed, or after \
               `sm2:` the SM2 secret key) and an optional newline; make one with \
               `tongban keygen --out FILE`";
    if let Some(at) = body.iter().position(|b| !b.is_ascii_hexdigit()) {
        return Err(format!("byte {} is not a hexadecimal digit; {fix}", at + 1));
    }
    if body.len() != 64 {
        return Err(format!("holds {} hexadecimal digits; {fix}", body.len()));
    }
    let mut seed = [0u8; 32];
    hex::decode_to_slice(body, &mut seed).map_err(|e| format!("{e}; {fix}"))?;
    Ok((suite, seed))
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Makes a new directory entry durable; failures only cost durability of the name, so they
/// are logged, not returned.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "could not sync the key folder");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(unix)]
fn warn_if_shared(path: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            "key file {} has mode {mode:03o}: group or others may read the secret key; \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path, _meta: &std::fs::Metadata) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_mode_0600_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("a.key");
        let id = generate(Suite::Ed25519).unwrap();
        write_key_file(&path, &id, false).unwrap();
        assert_eq!(read_key_file(&path).unwrap().public_key(), id.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = generate(Suite::Ed25519).unwrap();
        let err = write_key_file(&path, &other, false).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(read_key_file(&path).unwrap().public_key(), id.public_key());
        write_key_file(&path, &other, true).unwrap();
        assert_eq!(
            read_key_file(&path).unwrap().public_key(),
            other.public_key()
        );
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_copy_is_private_and_holds_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (
            dir.path().join("public.key"),
            dir.path().join("data/copy.key"),
        );
        let id = generate(Suite::Ed25519).unwrap();
        write_key_file(&from, &id, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&from, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        copy_key_file(&from, &to).unwrap();
        copy_key_file(&from, &to).unwrap();
        assert_eq!(read_key_file(&to).unwrap().public_key(), id.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&to).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn accepts_only_64_hex_digits_and_a_newline() {
        let good = "ab".repeat(32);
        for ok in [
            good.clone(),
            format!("{good}\n"),
            format!("{good}\r\n"),
            good.to_uppercase(),
        ] {
            assert!(parse_seed(ok.as_bytes()).is_ok(), "{ok:?}");
        }
        for (bad, why) in [
            (String::new(), "holds 0 hexadecimal digits"),
            ("ab".repeat(31), "holds 62"),
            (format!("{good}\n\n"), "is not a hexadecimal digit"),
            (format!(" {good}"), "byte 1 is not"),
            (format!("{good}00"), "holds 66"),
            ("-----BEGIN PRIVATE KEY-----".into(), "byte 1 is not"),
        ] {
            let err = parse_seed(bad.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.contains(&good), "the message must not echo the key");
        }
    }

    #[test]
    fn sm2_key_files_carry_their_suite_and_ed25519_ones_are_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let (ed_path, sm_path) = (dir.path().join("ed.key"), dir.path().join("sm.key"));
        let ed = generate(Suite::Ed25519).unwrap();
        let sm = generate(Suite::Sm).unwrap();
        write_key_file(&ed_path, &ed, false).unwrap();
        write_key_file(&sm_path, &sm, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&ed_path).unwrap(),
            format!("{}\n", hex::encode(ed.seed()))
        );
        assert!(
            std::fs::read_to_string(&sm_path)
                .unwrap()
                .starts_with("sm2:")
        );
        let read = read_key_file(&sm_path).unwrap();
        assert_eq!(read.suite(), Suite::Sm);
        assert_eq!(read.public_key(), sm.public_key());
        assert_eq!(
            read_key_file(&ed_path).unwrap().public_key(),
            ed.public_key()
        );
        // An SM2 secret out of range is refused with the reason, never the digits.
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, format!("sm2:{}\n", "00".repeat(32))).unwrap();
        let err = read_key_file(&bad).unwrap_err().to_string();
        assert!(
            err.contains("n-2") && !err.contains(&"00".repeat(32)),
            "{err}"
        );
    }
}
