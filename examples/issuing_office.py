"""Issuing office: create the issuer key, publish it to verifiers, and issue a driving licence.

Writes into the working folder (default ``./econsent-demo``):
``issuer.pem`` (the office's private key, kept by the office), ``trust.json`` (what verifiers load),
``holder.pem`` / ``holder.pub.pem`` (the citizen's phone key, created here if the citizen has not made
one yet), and ``licence.ecc`` (the credential handed to the citizen's phone).

The office binds the phone's key only after the phone has proved it holds it: the office hands out a
challenge, the phone signs it (``prove_possession``), and ``Issuer.issue`` checks the proof.

Run: ``python examples/issuing_office.py [FOLDER]``
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

from econsent import Issuer, IssuerName, PublicKey, SigningKey, TrustedKey, TrustStore, prove_possession

REFERENCE = Path(__file__).parent / "data" / "driving-licence.json"


def write_private(path: Path, data: bytes) -> None:
    """Write a secret or personal file readable by its owner only (0600 whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(data)


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    issuer_key = SigningKey.generate("ES256")
    write_private(folder / "issuer.pem", issuer_key.to_pem())  # a real office keeps it in an HSM

    document = json.loads(REFERENCE.read_text(encoding="utf-8"))
    trust = TrustStore(
        [
            TrustedKey(
                public_key=issuer_key.public_key,
                issuer=IssuerName(document["issuer"]["name"], document["issuer"]["name_en"]),
                credential_types=frozenset({"driving-licence"}),
                valid_from=now - dt.timedelta(minutes=5),
                valid_until=now + dt.timedelta(days=5 * 365),
            )
        ]
    )
    trust.save(folder / "trust.json")

    holder_private, holder_public = folder / "holder.pem", folder / "holder.pub.pem"
    if not holder_private.exists():  # the citizen's phone makes its key; here it is made for the demo
        phone_key = SigningKey.generate("ES256")
        write_private(holder_private, phone_key.to_pem())
        holder_public.write_bytes(phone_key.public_key.to_pem())

    issuer = Issuer(issuer_key)
    challenge = issuer.new_challenge()  # sent to the phone with the office's key id
    phone_key = SigningKey.from_pem(holder_private.read_bytes())  # on the phone
    proof = prove_possession(phone_key, challenge, issuer_kid=issuer.kid)  # sent back with the public key

    claims = dict(document["claims"])
    for name in ("birth_date", "issue_date", "expiry_date"):
        claims[name] = dt.date.fromisoformat(claims[name])
    credential = issuer.issue(
        "driving-licence",
        claims,
        holder_key=PublicKey.from_pem(holder_public.read_bytes()),
        possession=proof,
        challenge=challenge,
        valid_from=dt.datetime.fromisoformat(document["valid_from"]),
        valid_until=dt.datetime.fromisoformat(document["valid_until"]),
        now=now,
        derive=["age_over_18"],
    )
    write_private(folder / "licence.ecc", credential.encoded)  # personal data: the holder's only
    print(f"issued {credential!r}: {len(credential.encoded)} bytes -> {folder / 'licence.ecc'}")
    print(f"published issuer key {issuer_key.public_key.kid.hex()} in {folder / 'trust.json'}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "econsent-demo"))
