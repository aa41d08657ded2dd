#!/usr/bin/env python3
"""Verifies tongban's test vectors with pycose, an independent COSE implementation.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pycose "cbor2<6"
    /tmp/venv/bin/python protocol/tests/vectors/verify_pycose.py

For every envelope in INDEX.tsv: decode it as COSE_Sign1 (tag 18), check the protected
headers (alg EdDSA, kid = first 8 bytes of SHA-256 of the public key, content type), verify
the signature with the signer's Ed25519 public key, and decode the payload as CBOR. Then flip
one bit of each payload and check that verification fails. Exits non-zero on any failure.
"""
import hashlib
import pathlib
import sys

import cbor2
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm, ContentType
from pycose.keys.curves import Ed25519
from pycose.keys.keyparam import KpKty, OKPKpCurve, OKPKpX
from pycose.keys.keytype import KtyOKP
from pycose.keys import CoseKey
from pycose.messages import Sign1Message

HERE = pathlib.Path(__file__).resolve().parent


def key_from(file):
    raw = bytes.fromhex((HERE / file).read_text().strip())
    key = CoseKey.from_dict({KpKty: KtyOKP, OKPKpCurve: Ed25519, OKPKpX: raw})
    return raw, key


def main():
    failures = 0
    rows = [l.split("\t") for l in (HERE / "INDEX.tsv").read_text().splitlines() if l and not l.startswith("#")]
    for name, key_file, content_type in rows:
        data = (HERE / name).read_bytes()
        raw, key = key_from(key_file)
        msg = Sign1Message.decode(data)
        msg.key = key
        problems = []
        if msg.phdr.get(Algorithm) is not EdDSA and msg.phdr.get(Algorithm) != EdDSA:
            problems.append(f"alg is {msg.phdr.get(Algorithm)}")
        if msg.phdr.get(KID) != hashlib.sha256(raw).digest()[:8]:
            problems.append("kid is not SHA-256(public key)[:8]")
        if msg.phdr.get(ContentType) != content_type:
            problems.append(f"content type {msg.phdr.get(ContentType)!r} != {content_type!r}")
        if not msg.verify_signature():
            problems.append("signature does not verify")
        payload = cbor2.loads(msg.payload)
        # Tamper: flip one bit of the payload; the signature must no longer verify.
        tampered = Sign1Message.decode(data)
        tampered.key = key
        body = bytearray(tampered.payload)
        body[len(body) // 2] ^= 0x01
        tampered.payload = bytes(body)
        if tampered.verify_signature():
            problems.append("a tampered payload still verifies")
        status = "ok" if not problems else "FAIL: " + "; ".join(problems)
        print(f"{name:32} {content_type:24} payload keys {sorted(payload)[:4]}  {status}")
        failures += bool(problems)
    print(f"{len(rows) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
