"""Keys in an HSM: the PKCS#11 signer against a real SoftHSM2 token that the tests initialise themselves.

Keys are generated on the token (sensitive, never extractable) and named by ``pkcs11:`` URIs; they sign
credentials, status lists and trust lists that the ordinary verifiers accept, through the API and the CLI.
Every refusal (wrong PIN, locked PIN, missing key, a PIN in the URI, a malformed URI) is a typed error,
the PIN appears nowhere, and the signer holds no key material: pickled, it is its URI and module path.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import softhsm
from pkcs11 import Attribute, ObjectClass
from pkcs11.exceptions import AttributeSensitive

from econsent import (
    Algorithm,
    Issuer,
    IssuerName,
    Policy,
    SigningKey,
    TrustedKey,
    TrustStore,
    Verifier,
    cli,
    present,
    read_credential_unverified,
)
from econsent.errors import HsmError, HsmProblem, InputFileError, KeyLoadError
from econsent.hsm import MODULE_ENV, PIN_ENV, Pkcs11Signer, Pkcs11Uri, load_signer
from econsent.keys import Signer
from econsent.status import StatusListCache
from econsent.trust import IssuerScope, TrustLists

ROOT = Path(__file__).resolve().parent.parent
LICENCE = ROOT / "examples" / "data" / "driving-licence.json"
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
SHOWN = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
CLAIMS = {"family_name": "张", "given_name": "伟", "vehicle_classes": ("C1",), "expiry_date": dt.date(2029, 1, 15)}
LABELS = {Algorithm.ES256: "issuer-es256", Algorithm.ED25519: "issuer-ed25519"}

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> softhsm.SoftHsm:
    """A SoftHSM2 token of this test session with an ES256 and an Ed25519 issuer key generated on it."""
    token = softhsm.start(tmp_path_factory.mktemp("softhsm"))
    for algorithm, label in LABELS.items():
        token.generate(algorithm.value, label)
    return token


@pytest.fixture
def pin(hsm: softhsm.SoftHsm, monkeypatch: pytest.MonkeyPatch) -> str:
    """The token's PIN, in ECONSENT_PKCS11_PIN as an office sets it."""
    monkeypatch.setenv(PIN_ENV, hsm.pin)
    return hsm.pin


@pytest.fixture
def signer(hsm: softhsm.SoftHsm, pin: str) -> Iterator[Pkcs11Signer]:
    with Pkcs11Signer(hsm.uri(LABELS[Algorithm.ES256])) as opened:
        yield opened


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Run:
    """``econsent.cli.main`` in-process, in a fresh folder."""
    monkeypatch.chdir(tmp_path)

    def call(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def _trust(key: Signer, types: frozenset[str] = frozenset({"driving-licence"})) -> TrustStore:
    name = IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police")
    return TrustStore(
        [TrustedKey(key.public_key, name, types, NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=3650))]
    )


# --- signing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(LABELS), ids=str)
def test_a_key_generated_on_the_token_signs_credentials_the_verifier_accepts(
    hsm: softhsm.SoftHsm, pin: str, algorithm: Algorithm
) -> None:
    signer = load_signer(hsm.uri(LABELS[algorithm]))
    assert isinstance(signer, Pkcs11Signer) and isinstance(signer, Signer)
    assert signer.algorithm is algorithm  # from the token's key type and curve, never from the caller
    credential = Issuer(signer).issue(
        "driving-licence", CLAIMS, holder_key=None, valid_from=NOW, valid_until=NOW + dt.timedelta(days=365), now=NOW
    )
    verdict = Verifier(_trust(signer), Policy(accept_bearer=True)).verify(present(credential, None, now=NOW), now=NOW)
    assert verdict.claims["family_name"] == "张" and verdict.algorithm == algorithm.value
    signature = signer.sign(b"message")
    assert len(signature) == 64 and signer.public_key.verify(signature, b"message")
    signer.close()


def test_the_token_module_can_come_from_the_environment(
    hsm: softhsm.SoftHsm, pin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MODULE_ENV, hsm.module)
    with Pkcs11Signer(hsm.uri(LABELS[Algorithm.ED25519], with_module=False)) as signer:
        assert signer.module == hsm.module and signer.algorithm is Algorithm.ED25519


def test_threads_share_one_session_safely(signer: Pkcs11Signer) -> None:
    messages = [f"credential {i}".encode() for i in range(200)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        signatures = list(pool.map(signer.sign, messages))
    assert all(signer.public_key.verify(s, m) for s, m in zip(signatures, messages, strict=True))


def _sign_in_worker(signer: Pkcs11Signer, message: bytes) -> bytes:
    return signer.sign(message)


def test_a_pickled_signer_opens_the_token_itself_in_a_worker_process(signer: Pkcs11Signer) -> None:
    """A process pool gets the signer's spec; the worker re-reads the PIN from the environment and opens the
    module and its own session itself. (Spawn: a forkserver started by an earlier test keeps the environment
    of that moment, another SOFTHSM2_CONF; the batch's forkserver pool is tested in a fresh interpreter.)"""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        signatures = list(pool.map(_sign_in_worker, [signer] * 4, [b"row %d" % i for i in range(4)]))
    assert all(signer.public_key.verify(s, b"row %d" % i) for i, s in enumerate(signatures))
    assert signer.sign(b"parent still signs") and len(signatures) == 4


def test_a_forked_worker_is_refused_the_parents_module_with_a_typed_error(signer: Pkcs11Signer) -> None:
    """Re-initialising a module inherited through fork crashed SoftHSM now and then (a segmentation fault in
    the worker); PKCS#11 leaves it undefined. The child says what to do instead, and the parent goes on."""
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool, pytest.raises(HsmError) as refused:
        pool.submit(_sign_in_worker, signer, b"row").result(timeout=60)
    assert refused.value.code is HsmProblem.TOKEN_FAILED and "spawn" in refused.value.detail
    assert signer.sign(b"parent still signs")


def test_a_fork_while_a_thread_is_inside_the_module_leaves_the_child_a_typed_error_not_a_hang(
    signer: Pkcs11Signer,
) -> None:
    """Every call into a module holds its lock; a fork in the middle of one (another thread signing) must not
    hand the child a held lock, on which a signer of the child's own would wait for ever."""
    inside, release = threading.Event(), threading.Event()

    def in_a_module_call() -> None:
        with signer._lock:  # what a C_Sign in progress holds
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=in_a_module_call, daemon=True)
    thread.start()
    assert inside.wait(10)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+ warns of a fork with threads
            pid = os.fork()
        if pid == 0:  # the child, as a worker a pool forked: a signer of its own
            signal.alarm(30)  # a hang ends as SIGALRM, which the parent reports
            try:
                Pkcs11Signer(signer.uri, module=signer.module).sign(b"row")
                os._exit(3)
            except HsmError as exc:
                os._exit(0 if exc.code is HsmProblem.TOKEN_FAILED and "spawn" in exc.detail else 4)
            except BaseException:
                os._exit(5)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        thread.join()
    assert os.WIFEXITED(status), f"the child hung on the parent's module lock (status {status})"
    assert os.WEXITSTATUS(status) == 0, f"the child ended with {os.WEXITSTATUS(status)}, not a TOKEN_FAILED error"
    assert signer.sign(b"parent still signs")


# --- the private key never leaves the token ----------------------------------------------------------------------


def test_the_private_key_never_leaves_the_token_and_the_signer_holds_none_of_it(
    hsm: softhsm.SoftHsm, signer: Pkcs11Signer
) -> None:
    label = LABELS[Algorithm.ES256]
    attributes = hsm.private_attributes(
        label, Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.ALWAYS_SENSITIVE, Attribute.NEVER_EXTRACTABLE
    )
    assert attributes == {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.ALWAYS_SENSITIVE: True,
        Attribute.NEVER_EXTRACTABLE: True,
    }
    with hsm.session() as session, pytest.raises(AttributeSensitive):
        session.get_key(label=label, object_class=ObjectClass.PRIVATE_KEY)[Attribute.VALUE]
    # What the signer holds: its spec, a public key, and handles (numbers) of the session and key object.
    held = {name: getattr(signer, name) for name in Pkcs11Signer.__slots__}
    secretish = [value for value in held.values() if isinstance(value, bytes | bytearray | str | int)]
    assert all(not isinstance(value, bytes | bytearray) for value in secretish)
    assert held["_pin"] is None and isinstance(held["_key"].handle, int)
    assert not hasattr(held["_key"], "__dict__") or not any(
        isinstance(value, bytes) and len(value) == 32 for value in vars(held["_key"]).values()
    )
    # Pickled, it is exactly its URI and module path: the bytes hold nothing else.
    data = pickle.dumps(signer)
    restored = pickle.loads(data)
    assert (restored.uri, restored.module) == (signer.uri, signer.module) and restored._session is None
    spec = pickle.dumps((signer.uri.text, signer.module))
    assert len(data) < len(spec) + 120 and signer.public_key.raw not in data


def test_a_key_whose_value_can_be_read_is_refused(hsm: softhsm.SoftHsm, pin: str) -> None:
    uri = hsm.generate("ES256", "readable", sensitive=False, extractable=True)
    with pytest.raises(HsmError) as raised:
        load_signer(uri)
    assert raised.value.code is HsmProblem.UNSUPPORTED_KEY and "sensitive" in raised.value.detail


def test_a_key_that_may_not_sign_is_refused(hsm: softhsm.SoftHsm, pin: str) -> None:
    uri = hsm.generate("Ed25519", "no-sign", sign=False)
    with pytest.raises(HsmError) as raised:
        load_signer(uri)
    assert raised.value.code is HsmProblem.UNSUPPORTED_KEY and "CKA_SIGN" in raised.value.detail


# --- refusals, each a typed error -----------------------------------------------------------------------------


def test_a_wrong_pin_is_a_typed_error(hsm: softhsm.SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PIN_ENV, "999999")
    with pytest.raises(HsmError) as raised:
        load_signer(hsm.uri("issuer-es256"))
    assert raised.value.code is HsmProblem.WRONG_PIN and raised.value.exit_code == 2
    assert "999999" not in str(raised.value) and raised.value.sentence_zh


def test_no_pin_at_all_says_where_to_put_it(hsm: softhsm.SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PIN_ENV, raising=False)
    with pytest.raises(HsmError) as raised:
        load_signer(hsm.uri("issuer-es256"))
    assert raised.value.code is HsmProblem.NO_PIN and PIN_ENV in raised.value.detail


def test_a_locked_pin_is_refused_without_spending_another_attempt(hsm: softhsm.SoftHsm, pin: str) -> None:
    locked = softhsm.SoftHsm(hsm.folder, hsm.module, label=softhsm.LOCKED_LABEL)
    with pytest.raises(HsmError) as raised:
        load_signer(locked.uri("anything"))
    assert raised.value.code is HsmProblem.PIN_LOCKED


@pytest.mark.parametrize(
    ("name", "problem"),
    [("no-such-key", HsmProblem.NO_KEY), ("", HsmProblem.NO_TOKEN)],
    ids=["missing object", "missing token"],
)
def test_a_missing_object_or_token_is_a_typed_error(
    hsm: softhsm.SoftHsm, pin: str, name: str, problem: HsmProblem
) -> None:
    uri = hsm.uri(name) if name else hsm.uri("issuer-es256").replace("token=econsent-test", "token=nowhere")
    with pytest.raises(HsmError) as raised:
        load_signer(uri)
    assert raised.value.code is problem


@pytest.mark.parametrize(
    "uri",
    [
        "pkcs11:token=econsent-test;object=issuer-es256;pin-value=314159",
        "pkcs11:token=econsent-test;object=issuer-es256?pin-value=314159",
        "pkcs11:token=econsent-test;object=issuer-es256?pin-source=file:/etc/pin",
        "pkcs11:object=x;pin-value",
    ],
)
def test_a_pin_in_the_uri_is_refused_and_never_repeated(uri: str) -> None:
    with pytest.raises(HsmError) as raised:
        Pkcs11Uri.parse(uri)
    assert raised.value.code is HsmProblem.PIN_IN_URI and "314159" not in str(raised.value)


@pytest.mark.parametrize(
    "uri",
    [
        "pkcs11:",  # names no key
        "pkcs11:token=econsent-test",  # names no key either
        "pkcs11:object=a;object=b",  # twice
        "pkcs11:object=a;colour=blue",  # unknown attribute
        "pkcs11:object=a;",  # an empty attribute
        "pkcs11:object",  # not name=value
        "pkcs11:object=a%zz",  # bad percent-encoding
        "pkcs11:object=%ff%fe",  # not UTF-8
        "pkcs11:object=a%0A",  # a control character
        "pkcs11:object=a b",  # must be percent-encoded
        "pkcs11:object=a#frag",  # a fragment
        "pkcs11:object=a;type=public",  # a signer needs the private key
        "pkcs11:object=a;module-path=/x.so",  # a query attribute in the path
        "pkcs11:object=a?token=b",  # a path attribute in the query
        "pkcs11:object=a?module-name=softhsm2",  # by name: a library search we do not do
        "pkcs11:object=a;slot-id=0",  # known to RFC 7512's successors, not supported
        "pkcs11:token=" + "x" * 33 + ";object=a",  # a token label is at most 32 bytes
        "pkcs11:object=" + "a" * 3000,  # too long
        "pkcs11:object=钥",  # not ASCII: percent-encode it
        "file:/etc/key.pem",  # not a pkcs11 URI
    ],
)
def test_a_malformed_uri_is_a_typed_error(uri: str) -> None:
    with pytest.raises(HsmError) as raised:
        Pkcs11Uri.parse(uri)
    assert raised.value.code is HsmProblem.BAD_URI


def test_a_uri_parses_to_what_it_names() -> None:
    uri = Pkcs11Uri.parse(
        "PKCS11:token=Shanghai%20Office;object=%E7%AD%BE%E5%8F%91;id=%00%01;type=private?module-path=/m.so"
    )
    assert (uri.token, uri.object, uri.id, uri.module_path) == ("Shanghai Office", "签发", b"\x00\x01", "/m.so")


@pytest.mark.parametrize("module", ["", "libsofthsm2.so", "./libsofthsm2.so", "/nowhere/libsofthsm2.so"])
def test_the_module_must_be_an_absolute_path_to_a_file(
    module: str, monkeypatch: pytest.MonkeyPatch, hsm: softhsm.SoftHsm
) -> None:
    monkeypatch.delenv(MODULE_ENV, raising=False)
    uri = hsm.uri("issuer-es256", with_module=False) + (f"?module-path={module}" if module else "")
    with pytest.raises(HsmError) as raised:
        Pkcs11Signer(uri)
    assert raised.value.code is HsmProblem.NO_MODULE


def test_a_file_that_is_no_pkcs11_module_is_a_typed_error(tmp_path: Path, pin: str, hsm: softhsm.SoftHsm) -> None:
    fake = tmp_path / "fake.so"
    fake.write_bytes(b"not a library")
    with pytest.raises(HsmError) as raised:
        load_signer(hsm.uri("issuer-es256", with_module=False) + f"?module-path={fake}")
    assert raised.value.code is HsmProblem.NO_MODULE


def test_load_signer_reads_key_files_too_with_typed_errors(tmp_path: Path, hsm: softhsm.SoftHsm) -> None:
    key = SigningKey.generate("Ed25519")
    (tmp_path / "k.pem").write_bytes(key.to_pem("pass"))
    assert load_signer(tmp_path / "k.pem", passphrase="pass").public_key == key.public_key
    with pytest.raises(InputFileError):
        load_signer(tmp_path / "missing.pem")
    with pytest.raises(InputFileError):
        load_signer(tmp_path)
    with pytest.raises(KeyLoadError):
        load_signer(tmp_path / "k.pem", pin="314159")  # a PIN is for a token
    with pytest.raises(KeyLoadError):
        load_signer(hsm.uri("issuer-es256"), passphrase="pass")  # and a passphrase for a file


# --- the PIN appears nowhere ---------------------------------------------------------------------------------------


def test_the_pin_never_appears_in_reprs_pickles_errors_or_logs(
    hsm: softhsm.SoftHsm, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, run: Run
) -> None:
    secret = "271828-pin"
    monkeypatch.setenv(PIN_ENV, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(HsmError) as raised:
        load_signer(hsm.uri("issuer-es256"))  # wrong PIN
    signer = Pkcs11Signer(hsm.uri("issuer-es256"), pin=secret)
    code, out, err = run("trust", "sign", "--store", "t.json", "--anchor-key", hsm.uri("issuer-es256"), "--name", "n",
                         "--sequence", "1", "--next-update", "2027-01-01T00:00:00Z", "-o", "l.json")  # fmt: skip
    assert code == 2
    texts = [str(raised.value), repr(raised.value), raised.value.detail, repr(signer), out, err, caplog.text]
    assert not [text for text in texts if secret in text]
    assert secret.encode() not in pickle.dumps(signer)
    # argv has no way to carry it: there is no PIN option.
    code, _, err = run("issuer", "publish", "--registry", "r.db", "--key", hsm.uri("x"), "--pin", secret,
                       "--out-dir", "d")  # fmt: skip
    assert code == 2 and "unrecognized arguments: --pin" in err


# --- the command line ------------------------------------------------------------------------------------------


def test_the_cli_issues_publishes_and_signs_a_trust_list_with_a_key_on_the_token(
    hsm: softhsm.SoftHsm, pin: str, run: Run, tmp_path: Path
) -> None:
    uri = hsm.uri(LABELS[Algorithm.ES256])
    public = load_signer(uri).public_key
    (tmp_path / "issuer.pub.pem").write_bytes(public.to_pem())
    assert run("trust", "add", "--store", "trust.json", "--key", "issuer.pub.pem", "--issuer-id", "sh-traffic",
               "--issuer-zh", "上海市公安局交通警察总队", "--types", "driving-licence",
               "--valid-from", "2026-01-01T00:00:00Z", "--valid-until", "2031-01-01T00:00:00Z")[0] == 0  # fmt: skip
    code, _, err = run("issuer", "init", "--registry", "reg.db", "--key", "issuer.pub.pem", "--issuer-ref",
                       "sh-traffic", "--list-size", "100")  # fmt: skip
    assert code == 0, err
    for name in ("one.ecc", "two.ecc"):
        code, out, err = run("issuer", "issue", "--registry", "reg.db", "--key", uri, "--claims", str(LICENCE),
                             "--bearer", "-o", name, "--now", "2026-11-27T08:00:00Z", "--json")  # fmt: skip
        assert code == 0, err
    assert run("issuer", "revoke", "--registry", "reg.db", "1", "--now", "2026-11-27T09:00:00Z")[0] == 0
    code, out, err = run("issuer", "publish", "--registry", "reg.db", "--key", uri, "--out-dir", "lists",
                         "--now", "2026-11-27T10:00:00Z", "--ttl", "3600", "--json")  # fmt: skip
    assert code == 0, err
    cache = StatusListCache()
    assert not cache.load_directory(tmp_path / "lists", TrustStore.load(tmp_path / "trust.json")).errors
    held = cache.get(IssuerScope.local("sh-traffic"), 0)
    assert held is not None and held.status(0) == "revoked" and held.status(1) == "valid"
    text = present(read_credential_unverified((tmp_path / "two.ecc").read_bytes()), None, now=SHOWN)
    code, out, err = run("verify", text, "--trust", "trust.json", "--status-lists", "lists", "--accept-bearer",
                         "--now", "2026-11-27T09:30:00Z", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["valid"] is True, out + err

    anchor = hsm.uri(LABELS[Algorithm.ED25519])
    code, out, err = run("trust", "sign", "--store", "trust.json", "--anchor-key", anchor, "--name", "shanghai",
                         "--sequence", "1", "--next-update", "2027-01-01T00:00:00Z", "--now",
                         "2026-11-27T08:00:00Z", "-o", "shanghai.trust.json")  # fmt: skip
    assert code == 0, err
    lists = TrustLists([load_signer(anchor).public_key])
    assert lists.update((tmp_path / "shanghai.trust.json").read_bytes()).name == "shanghai"


@pytest.mark.parametrize(
    ("uri_of", "env", "code"),
    [
        (lambda hsm: hsm.uri("issuer-es256"), {PIN_ENV: "000000"}, "HSM_WRONG_PIN"),
        (lambda hsm: hsm.uri("no-such-key"), {}, "HSM_NO_KEY"),
        (lambda hsm: hsm.uri("issuer-es256") + "&pin-value=314159", {}, "HSM_PIN_IN_URI"),
        (lambda hsm: "pkcs11:object=a;;", {}, "HSM_BAD_URI"),
    ],
    ids=["wrong pin", "missing key", "pin in uri", "malformed"],
)
def test_cli_refusals_exit_2_with_their_code(
    hsm: softhsm.SoftHsm,
    pin: str,
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
    uri_of: Any,
    env: dict[str, str],
    code: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    exit_code, out, err = run("issue", "--key", uri_of(hsm), "--claims", str(LICENCE), "--bearer", "-o", "c.ecc",
                              "--json")  # fmt: skip
    assert exit_code == 2 and json.loads(out)["code"] == code, out + err
    assert "314159" not in out + err


def test_a_passphrase_option_with_a_token_is_a_usage_error(hsm: softhsm.SoftHsm, pin: str, run: Run) -> None:
    code, out, _ = run("issue", "--key", hsm.uri("issuer-es256"), "--passphrase-env", "X", "--claims", str(LICENCE),
                       "--bearer", "-o", "c.ecc", "--json")  # fmt: skip
    assert code == 2 and json.loads(out)["code"] == "USAGE"


def test_two_signers_of_one_token_sign_at_once_from_two_threads(hsm: softhsm.SoftHsm, pin: str) -> None:
    """PKCS#11 logs in per application: the second signer's login finds the token logged in already. And the
    module was initialised for one thread at a time: two threads signing at once with two keys of one token
    take turns (unserialised, SoftHSM2 spun for ever in C_Sign about one run in twenty)."""
    first = load_signer(hsm.uri(LABELS[Algorithm.ES256]))
    second = load_signer(hsm.uri(LABELS[Algorithm.ED25519]))
    start = threading.Barrier(2)
    good: dict[Algorithm, int] = {}
    failures: list[BaseException] = []

    def sign_many(signer: Signer) -> None:
        try:
            start.wait()
            messages = [b"x%d" % n for n in range(200)]
            good[signer.algorithm] = sum(signer.public_key.verify(signer.sign(m), m) for m in messages)
        except BaseException as exc:  # reported below: an exception in a thread is otherwise only a warning
            failures.append(exc)

    threads = [threading.Thread(target=sign_many, args=(signer,), daemon=True) for signer in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a signing thread hung in the PKCS#11 module"
    assert failures == []
    assert good == {Algorithm.ES256: 200, Algorithm.ED25519: 200}
