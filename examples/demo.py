"""End-to-end demo: issue the reference licence, show it as a PNG QR code, scan the PNG, verify it.

Runs the four parties of ``examples/`` in order in one folder (default: a fresh temporary folder):
issuing office -> citizen's phone -> service counter -> third-party verifier.

Run: ``python examples/demo.py [FOLDER]``
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import citizen_phone
import issuing_office
import service_counter
import third_party_verifier


def main(folder: Path) -> None:
    for party in (issuing_office, citizen_phone, service_counter, third_party_verifier):
        print(f"\n== {party.__name__.replace('_', ' ')} ==")
        party.main(folder)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory(prefix="econsent-demo-") as tmp:
            main(Path(tmp))
