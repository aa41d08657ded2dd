#!/usr/bin/env python3
"""Checks a tongban evidence bundle with pycose, an independent COSE implementation, and
nothing of tongban's code (docs/EVIDENCE.md).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install pycose "cbor2<6"
    /tmp/venv/bin/python docs/evidence/verify_evidence.py CASE.evidence.cose [GENESIS_DIGEST]

1. The roster chain: the first roster document must carry a quorum (its own `threshold`) of
   signatures by its members' governance keys; each later one a quorum of the roster before
   it. With GENESIS_DIGEST (SHA-256 of the genesis roster's CBOR, as `tongban roster verify`
   prints it), the chain must start there.
2. The bundle: signed by the exporting region's node key on the last roster.
3. Every event: signed by the node of the region that writes its log (the application, intake
   event 1, names them), and each log's events chained by `prev` (SHA-256 of the CBOR of the
   event before).
4. Every receipt: signed by the node of the region it names, for an event in the bundle.
5. The exporter's audit head: signed by its node key.
Exits non-zero on any failure. (Roster validity windows and key rotation are not replayed
here: keys are taken from the last roster; `tongban evidence verify` checks those too.)
"""
import hashlib
import sys

import cbor2
from pycose.headers import KID, ContentType
from pycose.keys import CoseKey
from pycose.keys.curves import Ed25519
from pycose.keys.keyparam import KpKty, OKPKpCurve, OKPKpX
from pycose.keys.keytype import KtyOKP
from pycose.messages import Sign1Message


def kid(raw):
    return hashlib.sha256(raw).digest()[:8]


def verify(data, raw_key, kind):
    """Verifies a COSE_Sign1 envelope under `raw_key`; returns its payload decoded."""
    msg = Sign1Message.decode(data)
    msg.key = CoseKey.from_dict({KpKty: KtyOKP, OKPKpCurve: Ed25519, OKPKpX: raw_key})
    if msg.phdr.get(KID) != kid(raw_key):
        raise ValueError(f"{kind}: signed by another key")
    if not str(msg.phdr.get(ContentType, "")).startswith(f"tongban/{kind}; "):
        raise ValueError(f"{kind}: content type {msg.phdr.get(ContentType)!r}")
    if not msg.verify_signature():
        raise ValueError(f"{kind}: the signature does not verify")
    return cbor2.loads(msg.payload)


def accept(document, signers):
    """A roster document signed by a quorum of `signers` (the roster before, or its own)."""
    rosters, count = [], 0
    for sig in cbor2.loads(document)["signatures"]:
        msg = Sign1Message.decode(sig)
        keys = {kid(m["governance_key"]): m["governance_key"] for m in (signers or [])}
        if signers is None:  # the genesis: its own members sign it
            own = cbor2.loads(msg.payload)
            keys = {kid(m["governance_key"]): m["governance_key"] for m in own["members"]}
        raw = keys.get(msg.phdr.get(KID))
        if raw is None:
            continue
        rosters.append(verify(sig, raw, "roster"))
        count += 1
    if not rosters or any(r != rosters[0] for r in rosters):
        raise ValueError("roster: no signature, or signatures over different rosters")
    return rosters[0], count


def main(path, genesis_pin=None):
    data = open(path, "rb").read()
    claimed = cbor2.loads(Sign1Message.decode(data).payload)
    # 1. The roster chain.
    roster, count = accept(claimed["rosters"][0], None)
    genesis = hashlib.sha256(cbor2.dumps(roster)).hexdigest()
    if count < roster["threshold"]:
        raise ValueError(f"genesis roster: {count} signatures, {roster['threshold']} needed")
    if genesis_pin and genesis_pin != genesis:
        raise ValueError(f"genesis roster {genesis}, not {genesis_pin}")
    for document in claimed["rosters"][1:]:
        nxt, count = accept(document, roster["members"])
        if count < roster["threshold"] or nxt["version"] <= roster["version"]:
            raise ValueError("a roster update without a quorum of the roster before it")
        roster = nxt
    node = {m["region"]: m["node_key"] for m in roster["members"]}
    # 2. The bundle itself.
    bundle = verify(data, node[claimed["region"]], "evidence")
    # 3. The events.
    events = [(e, Sign1Message.decode(e).payload) for e in bundle["events"]]
    events = [(e, raw, cbor2.loads(raw)) for e, raw in events]
    app = next(p["kind"]["submitted"]["application"] for _, _, p in events
               if isinstance(p["kind"], dict) and "submitted" in p["kind"])
    writers = {"intake": app["intake"]["region"], "handling": app["item"]["region"]}
    others = []
    for step in app.get("steps", []):
        r = step["region"]
        if r not in writers.values() and r not in others:
            others.append(r)
    digests, last = set(), {}
    for env, raw, e in sorted(events, key=lambda x: (str(x[2].get("side")), x[2]["seq"])):
        side = e.get("side", "intake")
        writer = writers.get(side) if isinstance(side, str) else others[side["participant"] - 1]
        verify(env, node[writer], "event")
        key = str(side)
        if e.get("prev") != last.get(key):
            raise ValueError(f"{key} event {e['seq']}: does not follow the event before")
        last[key] = hashlib.sha256(raw).digest()  # `prev` names the event's CBOR
        digests.add(hashlib.sha256(env).digest())  # a receipt names the envelope
    # 4. The receipts.
    for env in bundle["receipts"]:
        r = cbor2.loads(Sign1Message.decode(env).payload)
        verify(env, node[r["by"]], "receipt")
        if r["event_digest"] not in digests:
            raise ValueError(f"a receipt by {r['by']} for an event not in the bundle")
    # 5. The audit head.
    head = verify(bundle["audit_head"], node[bundle["region"]], "audit-head")
    print(f"case {bundle['case']} exported by {bundle['region']}: genesis roster {genesis}, "
          f"{len(events)} events, {len(bundle['receipts'])} receipts, audit head at record "
          f"{head['seq']}: ok")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:3])
    except (ValueError, KeyError, StopIteration) as e:
        print(f"FAIL: {e!r}")
        sys.exit(1)
