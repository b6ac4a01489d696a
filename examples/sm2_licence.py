"""国密 end to end: an SM2 issuing office, a phone with an SM2 key, and a counter, through a PNG.

The office signs with SM2 (GB/T 32918.2, curve sm2p256v1), so its credential's disclosure tree, salts and
replay fingerprint use SM3; the phone's key is SM2 as well. The counter's trust store says the office key
is SM2, and that alone makes it use SM3 for the code. Needs ``pip install 'econsent[sm]'``.

Writes into the working folder (default ``./econsent-sm2-demo``): ``trust.json``, ``licence.ecc`` and
``show-driving-check.png``; the private keys stay in memory.

Run: ``python examples/sm2_licence.py [FOLDER]``
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

from econsent import (
    Issuer,
    IssuerName,
    MemoryReplayCache,
    SigningKey,
    TrustedKey,
    TrustStore,
    VerificationError,
    Verifier,
    present,
    prove_possession,
    qr,
)

REFERENCE = Path(__file__).parent / "data" / "driving-licence.json"


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    document = json.loads(REFERENCE.read_text(encoding="utf-8"))

    office_key = SigningKey.generate("SM2")
    TrustStore(
        [
            TrustedKey(
                public_key=office_key.public_key,
                issuer=IssuerName(document["issuer"]["name"], document["issuer"]["name_en"]),
                credential_types=frozenset({"driving-licence"}),
                valid_from=now - dt.timedelta(minutes=5),
                valid_until=now + dt.timedelta(days=5 * 365),
            )
        ]
    ).save(folder / "trust.json")

    phone_key = SigningKey.generate("SM2")
    issuer = Issuer(office_key)
    challenge = issuer.new_challenge()
    proof = prove_possession(phone_key, challenge, issuer_kid=issuer.kid)
    claims = dict(document["claims"])
    for name in ("birth_date", "issue_date", "expiry_date"):
        claims[name] = dt.date.fromisoformat(claims[name])
    credential = issuer.issue(
        "driving-licence",
        claims,
        holder_key=phone_key.public_key,
        possession=proof,
        challenge=challenge,
        valid_from=dt.datetime.fromisoformat(document["valid_from"]),
        valid_until=dt.datetime.fromisoformat(document["valid_until"]),
        now=now,
        derive=["age_over_18"],
    )
    fd = os.open(folder / "licence.ecc", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:  # personal data: the holder's only
        handle.write(credential.encoded)
    print(f"office key SM2 {office_key.public_key.kid.hex()} issued {len(credential.encoded)} bytes")

    text = present(credential, phone_key, now=now, profile="driving-check", issuer_algorithm="SM2")
    image = folder / "show-driving-check.png"
    image.write_bytes(qr.render_png(text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER))
    print(f"phone (SM2 key {phone_key.public_key.kid.hex()}) drew {image.name}: {len(text)} characters")

    verifier = Verifier(TrustStore.load(folder / "trust.json"), replay_cache=MemoryReplayCache())
    verdict = qr.verify_image(verifier, image, now=now)
    print(f"counter: VALID, issuer {verdict.algorithm}, holder {verdict.holder_algorithm}: {sorted(verdict.claims)}")
    try:
        qr.verify_image(verifier, image, now=now)
    except VerificationError as refusal:
        print(f"counter, same code again: {refusal.code.value}")
    else:
        raise SystemExit("the replayed code was accepted")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "econsent-sm2-demo"))
