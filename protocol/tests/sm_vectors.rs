//! Test vectors of the national (SM) suite, from the standards and from other implementations
//! (`tests/vectors/sm/`, each row naming its source; see `tests/vectors/README.md`): SM3, SM4,
//! SM4-GCM, SM2 signatures and SM2 encryption, plus our own deterministic SM2 signatures so that a change to
//! how we sign is caught. Run with `TONGBAN_WRITE_VECTORS=1` to write `sm2-sign.tsv` anew
//! after a deliberate change.

use std::path::PathBuf;

use sm2::elliptic_curve::sec1::ToSec1Point as _;
use sm4::cipher::{BlockCipherEncrypt as _, KeyInit as _};
use tongban_protocol::suite::{SM2_USER_ID, SigningKey, Suite, VerifyingKey};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sm")
}

/// The rows of a tab-separated vector file, without its `#` comment lines.
fn rows(name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    assert!(!rows.is_empty(), "{name} holds no vector");
    rows
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap_or_else(|e| panic!("{text:?} is not hex: {e}"))
}

/// An SM2 public key in any SEC1 form, compressed as tongban carries it.
fn compressed(sec1: &[u8]) -> Vec<u8> {
    sm2::PublicKey::from_sec1_bytes(sec1)
        .expect("a point of the SM2 curve")
        .to_sec1_point(true)
        .as_bytes()
        .to_vec()
}

#[test]
fn sm3_matches_the_standard() {
    for row in rows("sm3.tsv") {
        let digest = Suite::Sm.digest(&unhex(&row[0]));
        assert_eq!(digest.to_string(), row[1], "{}", row[2]);
    }
}

#[test]
fn sm4_matches_the_standard() {
    for row in rows("sm4.tsv") {
        let key: [u8; 16] = unhex(&row[0]).try_into().expect("16-byte key");
        let cipher = sm4::Sm4::new(&key.into());
        let mut block: [u8; 16] = unhex(&row[1]).try_into().expect("16-byte block");
        let times: u32 = row[2].parse().expect("a count");
        for _ in 0..times {
            let mut b = block.into();
            cipher.encrypt_block(&mut b);
            block = b.into();
        }
        assert_eq!(hex::encode(block), row[3], "{}", row[4]);
    }
}

#[test]
fn sm4_gcm_matches_rfc_8998() {
    for row in rows("sm4-gcm.tsv") {
        let (key, aad, plaintext) = (unhex(&row[0]), unhex(&row[2]), unhex(&row[3]));
        let nonce: [u8; 12] = unhex(&row[1]).try_into().expect("12-byte nonce");
        let expected = [unhex(&row[4]), unhex(&row[5])].concat();
        let sealed = Suite::Sm.seal(&key, &nonce, &aad, &plaintext).unwrap();
        assert_eq!(hex::encode(&sealed), hex::encode(&expected), "{}", row[6]);
        assert_eq!(
            Suite::Sm.open(&key, &nonce, &aad, &expected).unwrap(),
            plaintext
        );
        let mut tampered = expected;
        tampered[0] ^= 1;
        assert!(Suite::Sm.open(&key, &nonce, &aad, &tampered).is_err());
    }
}

/// Signatures made by other implementations verify. A row with our user id goes through the
/// suite's own key type; a row with another user id goes through the `sm2` crate with that
/// id, and must fail under ours (the user id is hashed into what is signed).
#[test]
fn sm2_signatures_of_other_implementations_verify() {
    for row in rows("sm2-verify.tsv") {
        let (public, user_id, message, signature, source) = (
            unhex(&row[0]),
            &row[1],
            unhex(&row[2]),
            unhex(&row[3]),
            &row[4],
        );
        let ours = VerifyingKey::from_bytes(Suite::Sm, &compressed(&public)).unwrap();
        if user_id == SM2_USER_ID {
            assert!(ours.verify(&message, &signature), "{source}");
        } else {
            use sm2::dsa::signature::Verifier as _;
            let theirs = sm2::dsa::VerifyingKey::from_sec1_bytes(user_id, &public).unwrap();
            let sig = sm2::dsa::Signature::from_slice(&signature).unwrap();
            assert!(theirs.verify(&message, &sig).is_ok(), "{source}");
            assert!(
                !ours.verify(&message, &signature),
                "{source}: other user id"
            );
        }
        let mut flipped = signature.clone();
        flipped[40] ^= 0x10;
        assert!(!ours.verify(&message, &flipped), "{source}: flipped bit");
    }
}

/// SM2 ciphertexts (C1 ‖ C3 ‖ C2, GB/T 32918.4) made elsewhere — the standard's example,
/// the `sm2` crate's, OpenSSL's — decrypt with the key a node opens content keys with, and
/// not once a bit of C3 or C2 is flipped. What we encrypt to the same key decrypts too.
#[test]
fn sm2_ciphertexts_of_other_implementations_decrypt() {
    use tongban_protocol::suite::sm2_pke::{self, Sm2DecryptionKey};
    for row in rows("sm2-encrypt.tsv") {
        let (secret, message, ciphertext, source) =
            (unhex(&row[0]), unhex(&row[1]), unhex(&row[2]), &row[3]);
        let secret: [u8; 32] = secret.try_into().expect("32 bytes");
        let key = Sm2DecryptionKey::from_bytes(&secret).unwrap();
        assert_eq!(key.decrypt(&ciphertext).unwrap(), message, "{source}");
        for at in [70, ciphertext.len() - 1] {
            let mut flipped = ciphertext.clone();
            flipped[at] ^= 0x01;
            assert!(
                key.decrypt(&flipped).is_err(),
                "{source}: flipped byte {at}"
            );
        }
        let ours = sm2_pke::encrypt(&key.public_key(), &[3; 32], &message).unwrap();
        assert_eq!(key.decrypt(&ours).unwrap(), message, "{source}: ours");
    }
}

/// Our own SM2 signatures (deterministic, RFC 6979 nonces over SM3) for fixed keys and
/// messages, as the file holds them: signing anew must give the very same bytes.
#[test]
fn sm2_signatures_are_deterministic_and_unchanged() {
    let write = std::env::var_os("TONGBAN_WRITE_VECTORS").is_some();
    let path = dir().join("sm2-sign.tsv");
    let mut out = String::from(
        "# secret key (hex)\tmessage (hex)\tpublic key (hex, compressed)\tsignature r||s (hex)\tsource\n",
    );
    let inputs: Vec<(String, String, String)> = if write {
        vec![
            (
                "eabe4f2e5806154e6e618a85d71043660c1ee8816c3d7ca50c711b03a3efc5de".into(),
                hex::encode("message digest"),
                "tongban, user id 1234567812345678; verified with OpenSSL 3.0.19 pkeyutl -verify"
                    .into(),
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000001".into(),
                String::new(),
                "tongban, the smallest secret key and the empty message".into(),
            ),
        ]
    } else {
        rows("sm2-sign.tsv")
            .into_iter()
            .map(|r| (r[0].clone(), r[1].clone(), r[4].clone()))
            .collect()
    };
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    for (secret, message, source) in inputs {
        let secret: [u8; 32] = unhex(&secret).try_into().expect("32-byte secret");
        let key = SigningKey::from_secret(Suite::Sm, &secret).unwrap();
        let message_bytes = unhex(&message);
        let signature = key.sign(&message_bytes).unwrap();
        assert_eq!(
            key.sign(&message_bytes).unwrap(),
            signature,
            "deterministic"
        );
        assert!(key.verifying_key().verify(&message_bytes, &signature));
        out.push_str(&format!(
            "{}\t{message}\t{}\t{}\t{source}\n",
            hex::encode(secret),
            hex::encode(key.public_bytes()),
            hex::encode(signature)
        ));
    }
    if write {
        std::fs::write(&path, &out).expect("writes sm2-sign.tsv");
        panic!(
            "wrote {}: review it, then run again without TONGBAN_WRITE_VECTORS",
            path.display()
        );
    }
    assert_eq!(
        on_disk, out,
        "sm2-sign.tsv differs from what the code signs now"
    );
}

#[test]
fn sm2_secret_keys_out_of_range_are_refused() {
    let n_minus_1 = unhex("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54122");
    let n = unhex("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123");
    for bad in [vec![0u8; 32], n_minus_1, n, vec![0xff; 32]] {
        let secret: [u8; 32] = bad.try_into().expect("32 bytes");
        let err = SigningKey::from_secret(Suite::Sm, &secret).unwrap_err();
        assert!(err.to_string().contains("n-2"), "{err}");
    }
}
