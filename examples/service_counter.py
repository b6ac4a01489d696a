"""Service counter: scan the code on the citizen's screen and show a verdict, offline.

Loads ``trust.json`` and scans ``show-driving-check.png`` from the folder. The counter keeps a replay
cache, so the same code shown twice (a screenshot passed on) is refused the second time.

Run: ``python examples/service_counter.py [FOLDER]``
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from econsent import MemoryReplayCache, Policy, TrustStore, VerificationError, Verifier, qr


def main(folder: Path) -> None:
    verifier = Verifier(
        TrustStore.load(folder / "trust.json"),
        Policy(required_claims=("family_name", "given_name", "vehicle_classes", "expiry_date")),
        replay_cache=MemoryReplayCache(),
    )
    image = folder / "show-driving-check.png"
    for attempt in ("first scan", "same code again"):
        try:
            verdict = qr.verify_image(verifier, image, now=dt.datetime.now(dt.UTC))
        except VerificationError as exc:
            print(f"{attempt}: REJECTED {exc.code}: {exc.sentence}")
            continue
        claims = ", ".join(f"{name}={value}" for name, value in verdict.claims.items())
        print(f"{attempt}: VALID {verdict.credential_type} from {verdict.issuer}: {claims}")
        print(f"  withheld: {', '.join(verdict.withheld)}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "econsent-demo"))
