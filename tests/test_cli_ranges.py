"""Every number and time a command takes: out of range is a usage error (exit 2, one line), never a traceback.

``econsent verify --now 99999999999999`` used to print an OverflowError traceback; ``--hold nan``,
``--interval inf`` or ``--leeway -1`` went on with nonsense. Each option of each command runs with
99999999999999, -1, nan and inf, everything else being valid, so the refusal is about the value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from econsent import Issuer, SigningKey, TrustStore
from econsent.cli import main

ROOT = Path(__file__).resolve().parent.parent
LICENCE = ROOT / "examples" / "data" / "driving-licence.json"
VALUES = ("99999999999999", "-1", "nan", "inf")
TIME = ("1970 to 9999", "ISO 8601")  # what a refused time says


class Desk:
    """Files every command needs to get as far as reading its numbers: keys, a trust store, a credential, a wallet."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        key = SigningKey.generate("ES256")
        (folder / "issuer.pem").write_bytes(key.to_pem())
        (folder / "issuer.pub.pem").write_bytes(key.public_key.to_pem())
        TrustStore([]).save(folder / "trust.json")
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        credential = Issuer(key).issue(
            "driving-licence",
            {"family_name": "张", "given_name": "伟", "vehicle_classes": ("C1",)},
            holder_key=None,
            valid_from=start,
            valid_until=start + dt.timedelta(days=365),
            now=start,
        )
        (folder / "licence.ecc").write_bytes(credential.encoded)

    def __getitem__(self, name: str) -> str:
        return str(self.folder / name)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Desk:
    return Desk(tmp_path_factory.mktemp("ranges"))


@pytest.fixture
def wallet(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("WALLET_PASS", "wallet passphrase")
    options = ["--wallet", desk["w.ecw"], "--passphrase-env", "WALLET_PASS"]
    if not Path(desk["w.ecw"]).exists():
        assert main(["wallet", "create", *options, "--kdf-log2-n", "10"]) == 0
    return options


Command = Callable[[Desk, list[str], str], list[str]]


def issue_with(option: str) -> Command:
    def argv(d: Desk, w: list[str], value: str) -> list[str]:
        files = ["--key", d["issuer.pem"], "--claims", str(LICENCE), "--bearer", "--out", d["out.ecc"]]
        times = ["--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2027-01-01T00:00:00Z"]
        return ["issue", *files, *times, "--now", "2026-01-02T00:00:00Z", option, value]

    return argv


def trust_add_with(option: str) -> Command:
    def argv(d: Desk, w: list[str], value: str) -> list[str]:
        key = ["--store", d["added.json"], "--key", d["issuer.pub.pem"], "--issuer-zh", "交警"]
        times = ["--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2027-01-01T00:00:00Z"]
        return ["trust", "add", *key, "--types", "driving-licence", *times, option, value]

    return argv


def trust_sign_with(option: str) -> Command:
    def argv(d: Desk, w: list[str], value: str) -> list[str]:
        files = ["--store", d["trust.json"], "--anchor-key", d["issuer.pem"], "--out", d["signed.json"]]
        times = ["--now", "2026-01-01T00:00:00Z", "--next-update", "2026-02-01T00:00:00Z"]
        return ["trust", "sign", *files, "--name", "sh", "--sequence", "1", *times, option, value]

    return argv


# (command, option, what the refusal names): the option is given the value; all else is valid.
CASES: list[tuple[str, Command, tuple[str, ...]]] = [
    ("verify --now", lambda d, w, v: ["verify", "EC1:1", "--trust", d["trust.json"], "--now", v], TIME),
    ("verify --leeway", lambda d, w, v: ["verify", "EC1:1", "--trust", d["trust.json"], "--leeway", v], ("--leeway",)),
    (
        "verify --max-lifetime",
        lambda d, w, v: ["verify", "EC1:1", "--trust", d["trust.json"], "--max-lifetime", v],
        ("--max-lifetime",),
    ),
    ("scan --now", lambda d, w, v: ["scan", "-", "--trust", d["trust.json"], "--now", v], TIME),
    ("scan --camera", lambda d, w, v: ["scan", "--camera", v, "--trust", d["trust.json"]], ("--camera",)),
    ("scan --interval", lambda d, w, v: ["scan", d.folder.name, "--interval", v], ("--interval",)),
    ("scan --frames", lambda d, w, v: ["scan", "--camera", "0", "--frames", v], ("--frames",)),
    ("scan --hold", lambda d, w, v: ["scan", "-", "--trust", d["trust.json"], "--hold", v], ("--hold",)),
    ("scan --budget-ms", lambda d, w, v: ["scan", "-", "--trust", d["trust.json"], "--budget-ms", v], ("--budget-ms",)),
    (
        "scan --card-width",
        lambda d, w, v: ["scan", "-", "--trust", d["trust.json"], "--card-png", d["cards"], "--card-width", v],
        ("--card-width",),
    ),
    (
        "scan --card-keep",
        lambda d, w, v: ["scan", "-", "--trust", d["trust.json"], "--card-png", d["cards"], "--card-keep", v],
        ("--card-keep",),
    ),
    ("scan --leeway", lambda d, w, v: ["scan", "-", "--trust", d["trust.json"], "--leeway", v], ("--leeway",)),
    ("present --now", lambda d, w, v: ["present", "-c", d["licence.ecc"], "--now", v], TIME),
    ("present --lifetime", lambda d, w, v: ["present", "-c", d["licence.ecc"], "--lifetime", v], ("--lifetime",)),
    *[(f"issue {option}", issue_with(option), TIME) for option in ("--now", "--valid-from", "--valid-until")],
    *[(f"trust add {option}", trust_add_with(option), TIME) for option in ("--valid-from", "--valid-until")],
    *[(f"trust sign {option}", trust_sign_with(option), TIME) for option in ("--now", "--next-update")],
    ("wallet list --now", lambda d, w, v: ["wallet", "list", *w, "--now", v], TIME),
    ("wallet list --lock-timeout", lambda d, w, v: ["wallet", "list", *w, "--lock-timeout", v], ("--lock-timeout",)),
    ("wallet show --lifetime", lambda d, w, v: ["wallet", "show", "x", *w, "--lifetime", v], ("--lifetime",)),
    (
        "wallet show --refresh-before",
        lambda d, w, v: ["wallet", "show", "x", *w, "--refresh-before", v],
        ("--refresh-before",),
    ),
    ("wallet show --duration", lambda d, w, v: ["wallet", "show", "x", *w, "--duration", v], ("--duration",)),
    ("wallet create --kdf-log2-n", lambda d, w, v: ["wallet", "create", *w, "--kdf-log2-n", v], ("--kdf-log2-n",)),
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize(("command", "option"), [(name, (build, says)) for name, build, says in CASES], ids=str)
def test_an_out_of_range_number_or_time_is_a_usage_error(
    desk: Desk,
    wallet: list[str],
    command: str,
    option: tuple[Command, tuple[str, ...]],
    value: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build, says = option
    assert main(build(desk, wallet, value)) == 2  # an exception escaping main is the traceback this guards against
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    message = [line for line in captured.err.splitlines() if line.startswith("econsent")]
    assert len(message) == 1 and any(word in message[0] for word in says), captured.err


def test_a_sequence_number_beyond_what_a_trust_list_holds_is_a_usage_error(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["trust", "sign", "--store", desk["trust.json"], "--anchor-key", desk["issuer.pem"], "--name", "sh"]
    times = ["--now", "2026-01-01T00:00:00Z", "--next-update", "2026-02-01T00:00:00Z", "--out", desk["signed.json"]]
    for value in (str(2**53), "-1", "nan"):
        assert main([*argv, "--sequence", value, *times]) == 2
        assert "--sequence" in capsys.readouterr().err


def test_verify_now_takes_exactly_the_seconds_of_1970_to_9999(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    for moment in ("253402300799", "9999-12-31T23:59:59Z", "0", "1970-01-01T00:00:00Z"):
        assert main(["verify", "EC1:1", "--trust", desk["trust.json"], "--now", moment]) == 1  # refused code, no error
        assert "MALFORMED" in capsys.readouterr().out
    for moment in ("253402300800", "9999-12-31T23:59:59-00:01", "0001-01-01T00:00:00+00:01", "1969-12-31T23:59:59Z"):
        assert main(["verify", "EC1:1", "--trust", desk["trust.json"], "--now", moment]) == 2
        assert "1970 to 9999" in capsys.readouterr().err
