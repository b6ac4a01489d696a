"""Signed codes of other formats, verified by the same :class:`~econsent.verify.Verifier`.

Each format claims QR texts by prefix and brings its own trust material::

    from econsent.formats import DccFormat, DccTrust, ShcFormat, ShcTrust

    dcc = DccTrust()
    dcc.load("dsc-certificates/")                      # PEM/DER files or a DCC trust list (JSON)
    shc = ShcTrust()
    shc.load_jwks("https://spec.smarthealth.cards/examples/issuer", "issuer/.well-known/jwks.json")
    verifier = Verifier(trust, policy, formats=[DccFormat(dcc), ShcFormat(shc)])

What is checked for each format is in docs/formats.md. ``import econsent`` does not import this package
(the CLI loads it only for ``--dcc-certs`` / ``--shc-jwks``).
"""

from .dcc import DccFormat, DccTrust, DscEntry
from .shc import ShcFormat, ShcIssuerKey, ShcRevocationList, ShcTrust, read_health_card_file

__all__ = [
    "DccFormat",
    "DccTrust",
    "DscEntry",
    "ShcFormat",
    "ShcIssuerKey",
    "ShcRevocationList",
    "ShcTrust",
    "read_health_card_file",
]
