"""Citizen's phone: show the driving licence at a counter as a QR code that expires in 60 seconds.

Reads ``licence.ecc`` and ``holder.pem`` from the folder written by ``issuing_office.py`` and writes
``show-full.png`` (every claim) and ``show-driving-check.png`` (only name, vehicle classes and expiry, as
a car-rental counter needs). In an app, the holder key would live in the phone's secure hardware behind
the ``econsent.Signer`` interface; here it is a file.

Run: ``python examples/citizen_phone.py [FOLDER]``
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from econsent import SigningKey, present, qr, read_credential_unverified


def main(folder: Path) -> None:
    credential = read_credential_unverified((folder / "licence.ecc").read_bytes())
    holder = SigningKey.from_pem((folder / "holder.pem").read_bytes())
    now = dt.datetime.now(dt.UTC)

    for profile in (None, "driving-check"):
        text = present(credential, holder, now=now, lifetime=60, profile=profile)
        name = f"show-{profile or 'full'}.png"
        (folder / name).write_bytes(qr.render_png(text, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER))
        version = qr.qr_version(text, ecc=qr.SCREEN_ECC)
        print(f"{name}: {len(text)} characters, QR version {version} at ECC {qr.SCREEN_ECC}, valid 60 s")
    name_only = present(credential, holder, now=now, profile="name")
    print(qr.render_terminal(name_only, ecc=qr.SCREEN_ECC, border=qr.SCREEN_BORDER))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "econsent-demo"))
