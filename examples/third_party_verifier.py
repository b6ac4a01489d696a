"""Third-party verifier (a car-rental company's app): challenge the phone, then verify its answer.

The verifier names itself (audience) and sends a fresh nonce; the phone answers with a code bound to
both, so a code relayed from another counter, or made before the challenge, is refused. Reads
``trust.json``, ``licence.ecc`` and ``holder.pem`` from the folder (the phone's side is simulated here).

Run: ``python examples/third_party_verifier.py [FOLDER]``
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

from econsent import (
    Policy,
    SigningKey,
    TrustStore,
    VerificationError,
    Verifier,
    present,
    read_credential_unverified,
)

AUDIENCE = "rent-a-car.example/counter-7"


def main(folder: Path) -> None:
    verifier = Verifier(TrustStore.load(folder / "trust.json"), Policy(audience=AUDIENCE, max_lifetime=120))
    nonce = os.urandom(16)
    now = dt.datetime.now(dt.UTC)

    phone_credential = read_credential_unverified((folder / "licence.ecc").read_bytes())
    phone_key = SigningKey.from_pem((folder / "holder.pem").read_bytes())
    answer = present(phone_credential, phone_key, now=now, profile="driving-check", nonce=nonce, audience=AUDIENCE)
    replayed = present(phone_credential, phone_key, now=now, profile="driving-check", nonce=os.urandom(16))

    for label, text in (("answer to our challenge", answer), ("code made for another challenge", replayed)):
        try:
            verdict = verifier.verify(text, now=now + dt.timedelta(seconds=3), nonce=nonce)
        except VerificationError as exc:
            print(f"{label}: REJECTED {exc.code}: {exc.sentence}")
        else:
            print(f"{label}: VALID, vehicle classes {', '.join(verdict.claims['vehicle_classes'])}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "econsent-demo"))
