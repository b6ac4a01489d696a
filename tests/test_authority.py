"""The authority model: an issuer speaks only for itself, within the trust source that vouches for it.

One named test per observation of issue 11 section 2 (each was reproduced against the code before the
fix: a status list or trust list of another issuer or anchor un-revoked or un-compromised a credential),
and the rule for a key that several sources hold: the most restrictive terms win.
"""

from __future__ import annotations

import datetime as dt

import pytest
from testkeys import es256_test_key

from econsent import (
    ATTESTED_OUT_OF_BAND,
    ErrorCode,
    Issuer,
    IssuerName,
    SigningKey,
    StatusReference,
    TrustedKey,
    TrustStore,
    VerificationError,
    Verifier,
    present,
)
from econsent.status import CredentialStatus, StatusListBuilder, StatusListCache, StatusListReason, load_status_list
from econsent.trust import (
    IssuerScope,
    KeyStatus,
    TrustListError,
    TrustListProblem,
    TrustLists,
    TrustStoreError,
    sign_trust_list,
)

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
TRAFFIC = IssuerName("上海市公安局交通警察总队", "Shanghai Traffic Police")
CIVIL = IssuerName("江苏省民政厅", "Jiangsu Civil Affairs")
LICENCE = {"family_name": "张", "given_name": "伟", "vehicle_classes": ["C1"], "expiry_date": dt.date(2029, 1, 15)}


ANCHOR_1 = es256_test_key("authority test: province one's anchor")
ANCHOR_2 = es256_test_key("authority test: province two's anchor")
TRAFFIC_KEY = es256_test_key("authority test: province one's traffic police")  # key A / K
MARRIAGE_KEY = es256_test_key("authority test: province two's marriage office")  # key B / M
HOLDER = es256_test_key("authority test: holder")


def entry(key: SigningKey, *, types: tuple[str, ...] = ("driving-licence",), **changes: object) -> TrustedKey:
    fields: dict[str, object] = {
        "public_key": key.public_key,
        "issuer": TRAFFIC,
        "credential_types": frozenset(types),
        "valid_from": NOW - 365 * DAY,
        "valid_until": NOW + 365 * DAY,
        "issuer_id": "traffic",
        **changes,
    }
    return TrustedKey(**fields)  # type: ignore[arg-type]


def trust_list(anchor: SigningKey, name: str, *keys: TrustedKey, sequence: int = 1, days: int = 7) -> bytes:
    return sign_trust_list(
        TrustStore(keys), anchor, name=name, sequence=sequence, issued_at=NOW - DAY, next_update=NOW + days * DAY
    )


def licence(index: int = 0, key: SigningKey = TRAFFIC_KEY, issued_at: dt.datetime = NOW - DAY) -> str:
    """A driving licence with status slot ``index`` of list 0, shown now."""
    credential = Issuer(key).issue(
        "driving-licence",
        LICENCE,
        holder_key=HOLDER.public_key,
        possession=ATTESTED_OUT_OF_BAND,
        valid_from=NOW - 30 * DAY,
        valid_until=NOW + 300 * DAY,
        now=issued_at,
        status=StatusReference(0, index),
    )
    return present(credential, HOLDER, now=NOW)


def status_list(key: SigningKey, issuer_ref: str, *, revoked: tuple[int, ...] = (), sequence: int = 1) -> bytes:
    builder = StatusListBuilder(8)
    builder.set_many(list(revoked), CredentialStatus.REVOKED)
    return builder.sign(
        key, issuer_ref=issuer_ref, list_id=0, sequence=sequence, issued_at=NOW - DAY, next_update=NOW + DAY
    )


def refusal(verifier: Verifier, code: str) -> ErrorCode:
    with pytest.raises(VerificationError) as caught:
        verifier.verify(code, now=NOW)
    return caught.value.code


def two_provinces() -> TrustStore:
    """Two pinned anchors; each names its own traffic police ``traffic`` (province two's is its marriage office)."""
    lists = TrustLists([ANCHOR_1.public_key, ANCHOR_2.public_key])
    lists.update(trust_list(ANCHOR_1, "province-one", entry(TRAFFIC_KEY)))
    lists.update(trust_list(ANCHOR_2, "province-two", entry(MARRIAGE_KEY, types=("marriage-certificate",))))
    return lists.store()


# --- status lists speak only for their own issuer, within their own trust source ----------------------


def test_an_issuer_id_in_the_kid_namespace_is_refused_in_a_trust_store() -> None:
    """(a) Key B declared with issuer_id ``kid:<key A>`` would sign status lists for A's credentials."""
    impostor = f"kid:{TRAFFIC_KEY.public_key.kid.hex()}"
    with pytest.raises(TrustStoreError, match="reserved"):
        TrustStore([entry(TRAFFIC_KEY, issuer_id=None), entry(MARRIAGE_KEY, issuer_id=impostor)])
    with pytest.raises(TrustStoreError, match="reserved"):
        TrustStore.from_json({"format": "econsent-trust-store", "version": 1,
                              "keys": [{**entry(MARRIAGE_KEY).to_json(), "issuer_id": impostor.upper()}]})  # fmt: skip


def test_an_issuer_id_in_the_kid_namespace_is_refused_in_a_signed_trust_list() -> None:
    document = trust_list(ANCHOR_1, "province-one", entry(MARRIAGE_KEY, issuer_id="kid-like-but-fine"))
    assert TrustLists([ANCHOR_1.public_key]).update(document).name == "province-one"
    with pytest.raises(TrustStoreError, match="reserved"):
        trust_list(ANCHOR_1, "province-one", entry(MARRIAGE_KEY, issuer_id=f"kid:{TRAFFIC_KEY.public_key.kid.hex()}"))


@pytest.mark.parametrize("order", ["own list first", "namesake's list first"])
def test_a_namesake_issuer_of_another_anchor_cannot_unrevoke_a_credential(order: str) -> None:
    """(b) Province two's ``traffic`` publishes list 0 with a higher sequence, every entry valid."""
    trust = two_provinces()
    own = load_status_list(status_list(TRAFFIC_KEY, "traffic", revoked=(0,), sequence=1), trust)
    namesake = load_status_list(status_list(MARRIAGE_KEY, "traffic", sequence=9), trust)
    assert own.scopes == {IssuerScope(ANCHOR_1.public_key.kid, "province-one", "traffic")}
    assert namesake.scopes == {IssuerScope(ANCHOR_2.public_key.kid, "province-two", "traffic")}
    cache = StatusListCache()
    for held in (own, namesake) if order == "own list first" else (namesake, own):
        assert cache.add(held)
    assert refusal(Verifier(trust, status_lists=cache), licence(0)) is ErrorCode.REVOKED


def test_a_namesake_issuers_list_alone_leaves_the_status_unknown() -> None:
    trust = two_provinces()
    cache = StatusListCache()
    cache.add(load_status_list(status_list(MARRIAGE_KEY, "traffic", sequence=9), trust))
    verifier = Verifier(trust, status_lists=cache)
    assert refusal(verifier, licence(0)) is ErrorCode.STATUS_UNKNOWN


def test_a_local_issuer_and_a_list_issuer_of_the_same_id_never_merge() -> None:
    """The verifier's own store names its traffic police ``traffic``; so does a pinned anchor's list."""
    lists = TrustLists([ANCHOR_2.public_key])
    lists.update(trust_list(ANCHOR_2, "province-two", entry(MARRIAGE_KEY, types=("marriage-certificate",))))
    trust = TrustStore.union(TrustStore([entry(TRAFFIC_KEY)]), lists.store())
    cache = StatusListCache()
    cache.add(load_status_list(status_list(TRAFFIC_KEY, "traffic", revoked=(0,)), trust))
    cache.add(load_status_list(status_list(MARRIAGE_KEY, "traffic", sequence=5), trust))
    assert refusal(Verifier(trust, status_lists=cache), licence(0)) is ErrorCode.REVOKED
    assert cache.get(IssuerScope.local("traffic"), 0) is not None


def test_a_held_list_stops_counting_when_its_signer_leaves_the_issuer() -> None:
    """The trust store changed after the list was cached: a list of a key no longer the issuer's is not used."""
    before = TrustStore([entry(TRAFFIC_KEY), entry(MARRIAGE_KEY)])
    cache = StatusListCache()
    cache.add(load_status_list(status_list(MARRIAGE_KEY, "traffic"), before))
    after = TrustStore([entry(TRAFFIC_KEY), entry(MARRIAGE_KEY, issuer_id="civil-affairs", issuer=CIVIL)])
    assert refusal(Verifier(after, status_lists=cache), licence(0)) is ErrorCode.STATUS_UNKNOWN
    assert Verifier(before, status_lists=cache).verify(licence(0), now=NOW).warnings == ()


def test_an_unverified_list_is_held_for_nobody() -> None:
    from econsent.status import StatusListError, read_status_list_unverified

    unverified = read_status_list_unverified(status_list(TRAFFIC_KEY, "traffic"))
    with pytest.raises(StatusListError) as caught:
        StatusListCache().add(unverified)
    assert caught.value.code is StatusListReason.UNKNOWN_KEY


# --- trust lists: a list is (anchor, name); a key held twice gets the most restrictive terms ----------


def test_a_list_of_the_same_name_from_another_anchor_cannot_uncompromise_a_key() -> None:
    """Anchor 1 publishes sh#5 marking K compromised; anchor 2 publishes sh#6 with K active."""
    lists = TrustLists([ANCHOR_1.public_key, ANCHOR_2.public_key])
    compromised = entry(TRAFFIC_KEY, status=KeyStatus.COMPROMISED, status_since=NOW - DAY)
    lists.update(trust_list(ANCHOR_1, "sh", compromised, sequence=5))
    lists.update(trust_list(ANCHOR_2, "sh", entry(TRAFFIC_KEY), sequence=6))
    assert sorted((info.anchor_kid, info.label) for info in lists.held()) == sorted(
        [(ANCHOR_1.public_key.kid, "sh#5"), (ANCHOR_2.public_key.kid, "sh#6")]
    )
    assert refusal(Verifier(lists.store()), licence(0)) is ErrorCode.KEY_COMPROMISED


def test_rollback_is_judged_per_anchor_and_name() -> None:
    lists = TrustLists([ANCHOR_1.public_key, ANCHOR_2.public_key])
    lists.update(trust_list(ANCHOR_1, "sh", entry(TRAFFIC_KEY), sequence=5))
    lists.update(trust_list(ANCHOR_2, "sh", entry(MARRIAGE_KEY), sequence=2))  # another anchor's list: not older
    with pytest.raises(TrustListError) as caught:
        lists.update(trust_list(ANCHOR_1, "sh", entry(TRAFFIC_KEY), sequence=4))
    assert caught.value.code is TrustListProblem.ROLLBACK


def test_a_compromise_in_one_list_wins_over_another_list_holding_the_key() -> None:
    """Two lists hold K; the second marks it compromised. Before, that list was refused and K stayed trusted."""
    lists = TrustLists([ANCHOR_1.public_key, ANCHOR_2.public_key])
    lists.update(trust_list(ANCHOR_1, "shanghai", entry(TRAFFIC_KEY)))
    info = lists.update(
        trust_list(ANCHOR_2, "national", entry(TRAFFIC_KEY, status=KeyStatus.COMPROMISED, status_since=NOW - DAY))
    )
    assert info.name == "national"
    held = lists.store().get(TRAFFIC_KEY.public_key.kid)
    assert held is not None and (held.status, held.status_since) == (KeyStatus.COMPROMISED, NOW - DAY)
    assert refusal(Verifier(lists.store()), licence(0)) is ErrorCode.KEY_COMPROMISED


def test_a_key_held_twice_signs_only_the_types_and_times_both_allow() -> None:
    wide = entry(TRAFFIC_KEY, types=("driving-licence", "marriage-certificate"), valid_until=NOW + 900 * DAY)
    narrow = entry(TRAFFIC_KEY, issuer_id="sh-traffic", valid_from=NOW - 10 * DAY)
    held = TrustStore.union(TrustStore([wide]), TrustStore([narrow])).get(TRAFFIC_KEY.public_key.kid)
    assert held is not None
    assert held.credential_types == {"driving-licence"}
    assert (held.valid_from, held.valid_until) == (NOW - 10 * DAY, NOW + 365 * DAY)
    verifier = Verifier(TrustStore.union(TrustStore([wide]), TrustStore([narrow])))
    assert refusal(verifier, licence(0, issued_at=NOW - 20 * DAY)) is ErrorCode.KEY_NOT_VALID


def test_the_earliest_retirement_of_a_key_held_twice_counts() -> None:
    late = entry(TRAFFIC_KEY, status=KeyStatus.RETIRED, status_since=NOW - DAY)
    early = entry(TRAFFIC_KEY, status=KeyStatus.RETIRED, status_since=NOW - 3 * DAY)
    store = TrustStore.union(TrustStore([late]), TrustStore([entry(TRAFFIC_KEY)]), TrustStore([early]))
    held = store.get(TRAFFIC_KEY.public_key.kid)
    assert held is not None and (held.status, held.status_since) == (KeyStatus.RETIRED, NOW - 3 * DAY)
    assert refusal(Verifier(store), licence(0, issued_at=NOW - 2 * DAY)) is ErrorCode.KEY_NOT_VALID


def test_a_compromise_keeps_an_earlier_retirement_of_the_same_key() -> None:
    retired = entry(TRAFFIC_KEY, status=KeyStatus.RETIRED, status_since=NOW - 5 * DAY)
    compromised = entry(TRAFFIC_KEY, status=KeyStatus.COMPROMISED, status_since=NOW + DAY)
    held = TrustStore.union(TrustStore([retired]), TrustStore([compromised])).get(TRAFFIC_KEY.public_key.kid)
    assert held is not None and (held.status, held.status_since) == (KeyStatus.COMPROMISED, NOW + DAY)
    assert not held.signs_at(int((NOW - 2 * DAY).timestamp()))
    assert held.signs_at(int((NOW - 6 * DAY).timestamp()))


def test_a_key_left_with_nothing_to_sign_is_not_trusted_and_stays_so() -> None:
    """No common type: the key is untrusted, and a later union with a third source does not revive it."""
    first, second = TrustStore([entry(TRAFFIC_KEY)]), TrustStore([entry(TRAFFIC_KEY, types=("business-licence",))])
    merged = TrustStore.union(first, second)
    assert merged.get(TRAFFIC_KEY.public_key.kid) is None and len(merged) == 0
    assert refusal(Verifier(merged), licence(0)) is ErrorCode.UNKNOWN_KEY
    assert TrustStore.union(merged, TrustStore([entry(TRAFFIC_KEY)])).get(TRAFFIC_KEY.public_key.kid) is None


def test_a_key_held_by_two_lists_is_as_stale_as_the_list_that_expires_first() -> None:
    lists = TrustLists([ANCHOR_1.public_key, ANCHOR_2.public_key])
    lists.update(trust_list(ANCHOR_1, "fresh", entry(TRAFFIC_KEY), days=30))
    lists.update(trust_list(ANCHOR_2, "soon", entry(TRAFFIC_KEY), days=1))
    held = lists.store().get(TRAFFIC_KEY.public_key.kid)
    assert held is not None and held.source is not None and held.source.name == "soon"
    assert lists.store().scopes(TRAFFIC_KEY.public_key.kid) == {
        IssuerScope(ANCHOR_1.public_key.kid, "fresh", "traffic"),
        IssuerScope(ANCHOR_2.public_key.kid, "soon", "traffic"),
    }


def test_a_status_list_of_either_source_holding_the_key_counts_and_revoked_wins() -> None:
    """K is held by two lists; its issuer's list in each source is checked, and any revocation refuses."""
    lists = TrustLists([ANCHOR_1.public_key, ANCHOR_2.public_key])
    lists.update(trust_list(ANCHOR_1, "province-one", entry(TRAFFIC_KEY), days=30))
    lists.update(trust_list(ANCHOR_2, "national", entry(TRAFFIC_KEY, issuer_id="national-traffic"), days=30))
    trust = lists.store()
    cache = StatusListCache()
    cache.add(load_status_list(status_list(TRAFFIC_KEY, "traffic"), trust))
    cache.add(load_status_list(status_list(TRAFFIC_KEY, "national-traffic", revoked=(1,)), trust))
    verifier = Verifier(trust, status_lists=cache)
    assert verifier.verify(licence(0), now=NOW).warnings == ()
    assert refusal(verifier, licence(1)) is ErrorCode.REVOKED
