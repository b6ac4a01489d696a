"""The verifier checks revocation status offline: revoked and suspended are refused, unknown is a policy choice."""

from __future__ import annotations

import datetime as dt

import pytest

from econsent import (
    ATTESTED_OUT_OF_BAND,
    ErrorCode,
    Issuer,
    IssuerName,
    Policy,
    SigningKey,
    StatusReference,
    TrustedKey,
    TrustStore,
    VerificationError,
    Verifier,
    card,
    present,
)
from econsent.status import CredentialStatus, StatusListBuilder, StatusListCache, load_status_list
from econsent.verify import StatusFallback

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
CLAIMS = {"family_name": "张", "given_name": "伟"}


@pytest.fixture(scope="module")
def world() -> dict[str, object]:
    issuer_key, holder_key = SigningKey.generate("ES256"), SigningKey.generate("ES256")
    trust = TrustStore(
        [
            TrustedKey(
                issuer_key.public_key,
                IssuerName("上海市公安局交通警察总队"),
                frozenset({"driving-licence"}),
                NOW - 1000 * HOUR,
                NOW + 1000 * HOUR,
                issuer_id="sh-traffic",
            )
        ]
    )
    codes = {}
    for index in (0, 1, 2, 7):
        credential = Issuer(issuer_key).issue(
            "driving-licence",
            CLAIMS,
            holder_key=holder_key.public_key,
            possession=ATTESTED_OUT_OF_BAND,
            valid_from=NOW - HOUR,
            valid_until=NOW + 100 * HOUR,
            now=NOW - HOUR,
            status=StatusReference(list_id=3, index=index),
        )
        codes[index] = present(credential, holder_key, now=NOW)
    return {"issuer_key": issuer_key, "trust": trust, "codes": codes}


def cache(world: dict[str, object], *, next_update: dt.datetime = NOW + 24 * HOUR, size: int = 4) -> StatusListCache:
    builder = StatusListBuilder(size)
    builder.set(1, CredentialStatus.REVOKED)
    builder.set(2, CredentialStatus.SUSPENDED)
    data = builder.sign(
        world["issuer_key"],  # type: ignore[arg-type]
        issuer_ref="sh-traffic",
        list_id=3,
        sequence=1,
        issued_at=min(NOW, next_update) - 24 * HOUR,
        next_update=next_update,
    )
    lists = StatusListCache()
    lists.add(load_status_list(data, world["trust"]))  # type: ignore[arg-type]
    return lists


def verify(world: dict[str, object], index: int, lists: StatusListCache | None, **policy: object) -> object:
    verifier = Verifier(world["trust"], Policy(**policy), status_lists=lists)  # type: ignore[arg-type]
    return verifier.verify(world["codes"][index], now=NOW)  # type: ignore[index]


def code_of(world: dict[str, object], index: int, lists: StatusListCache | None, **policy: object) -> ErrorCode:
    with pytest.raises(VerificationError) as caught:
        verify(world, index, lists, **policy)
    return caught.value.code


def test_valid_entry_verifies_without_warnings(world: dict[str, object]) -> None:
    verdict = verify(world, 0, cache(world))
    assert verdict.warnings == ()  # type: ignore[attr-defined]
    assert verdict.status == StatusReference(3, 0)  # type: ignore[attr-defined]


def test_revoked_is_refused(world: dict[str, object]) -> None:
    assert code_of(world, 1, cache(world)) is ErrorCode.REVOKED


def test_suspended_is_refused(world: dict[str, object]) -> None:
    assert code_of(world, 2, cache(world)) is ErrorCode.SUSPENDED


def test_revoked_is_refused_even_when_unknown_status_only_warns(world: dict[str, object]) -> None:
    assert code_of(world, 1, cache(world), unknown_status=StatusFallback.WARN) is ErrorCode.REVOKED


def test_missing_list_is_refused_by_default_never_silently_good(world: dict[str, object]) -> None:
    assert code_of(world, 0, None) is ErrorCode.STATUS_UNKNOWN
    assert code_of(world, 0, StatusListCache()) is ErrorCode.STATUS_UNKNOWN


def test_missing_list_can_be_accepted_with_a_warning(world: dict[str, object]) -> None:
    verdict = verify(world, 0, None, unknown_status="warn")
    assert verdict.warnings == ("revocation status not checked: no status list 3 of sh-traffic is loaded",)  # type: ignore[attr-defined]


def test_index_beyond_the_list_is_unknown(world: dict[str, object]) -> None:
    assert code_of(world, 7, cache(world)) is ErrorCode.STATUS_UNKNOWN


def test_stale_list_warns_within_grace_then_is_stale(world: dict[str, object]) -> None:
    overdue = cache(world, next_update=NOW - 5 * HOUR)
    warned = verify(world, 0, overdue)
    assert "5.0 hours past its next update" in warned.warnings[0]  # type: ignore[attr-defined]
    # The clerk reads it in Chinese too (issue 15): on the verdict, in its JSON and on the card.
    chinese = "sh-traffic 的状态列表 3 已超过下次更新时间 5.0 小时，请更新。"  # noqa: RUF001 - Chinese punctuation
    assert warned.to_json()["warnings_zh"] == [chinese]  # type: ignore[attr-defined]
    assert chinese in card.render_card_text(warned, now=NOW)  # type: ignore[arg-type]
    assert code_of(world, 0, overdue, status_list_grace=3600) is ErrorCode.STATUS_STALE
    accepted = verify(world, 0, overdue, status_list_grace=3600, unknown_status="warn")
    assert "expired 5.0 hours ago" in accepted.warnings[0]  # type: ignore[attr-defined]


def test_a_stale_list_still_revokes(world: dict[str, object]) -> None:
    assert code_of(world, 1, cache(world, next_update=NOW - 500 * HOUR)) is ErrorCode.REVOKED


def test_credentials_without_a_status_reference_need_no_list(world: dict[str, object]) -> None:
    issuer_key = world["issuer_key"]
    holder = SigningKey.generate("ES256")
    credential = Issuer(issuer_key).issue(  # type: ignore[arg-type]
        "driving-licence",
        CLAIMS,
        holder_key=holder.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=NOW - HOUR,
        valid_until=NOW + HOUR,
        now=NOW,
    )
    verdict = Verifier(world["trust"]).verify(present(credential, holder, now=NOW), now=NOW)  # type: ignore[arg-type]
    assert verdict.status is None


def test_other_code_formats_plug_in_by_prefix(world: dict[str, object]) -> None:
    """A CodeFormat claims its prefix; every other text is still read as an econsent presentation."""

    class Refusing:
        prefixes = ("XX1:",)

        def verify(self, text: str, *, now: int, nonce: bytes | None, policy: Policy) -> object:
            raise VerificationError(ErrorCode.MALFORMED, f"format XX saw {text}")

    verifier = Verifier(world["trust"], status_lists=cache(world), formats=[Refusing()])  # type: ignore[arg-type,list-item]
    with pytest.raises(VerificationError, match="format XX saw XX1:abc"):
        verifier.verify("XX1:abc", now=NOW)
    assert verifier.verify(world["codes"][0], now=NOW).format == "econsent/1"  # type: ignore[index]
