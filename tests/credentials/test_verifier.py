"""Verifier: every refusal code, check order, replay, certificate cache, rotation, fuzzing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.credentials import verifier as verifier_module
from server.credentials.base45 import ALPHABET, b45decode, b45encode
from server.credentials.codec import (
    CERTIFICATE_LEN,
    PRESENTATION_LEN,
    PRESENTATION_PREFIX,
    SERVER_CODE_LEN,
    SERVER_CODE_PREFIX,
    Category,
    CredentialError,
    Scene,
    encode,
    make_presentation,
)
from server.credentials.verifier import (
    REFUSAL_CODES,
    Accepted,
    MemoryReplayCache,
    Refused,
    RevocationList,
    TrustList,
    Verifier,
)

from . import _support as s

# --------------------------------------------------------------------------- happy paths


def test_presentation_accepted() -> None:
    v = s.verifier()
    ok = v.verify(s.pres_text(), scene=Scene.TRANSIT, now=s.NOW)
    assert ok == Accepted(
        kind="device",
        kid=1,
        serial=s.SERIAL,
        counter=42,
        pseudonym=s.PSEUDONYM,
        categories=Category.SENIOR_65_PLUS | Category.DISABLED,
        home_city=440300,
        per_use_cap_fen=20_000,
        scene=Scene.TRANSIT,
        generated_at=s.NOW - 5,
        expires_at=s.NOW - 5 + s.TTL + s.SKEW,
        certificate_not_after=s.NOW + 6 * s.DAY,
    )


def test_server_code_accepted() -> None:
    v = s.verifier()
    ok = v.verify(s.server_text(), scene=Scene.LIBRARY, now=s.NOW)
    assert ok.kind == "server"
    assert ok.counter == 0
    assert ok.categories == Category.STUDENT
    assert ok.home_city == 440100
    assert ok.expires_at == s.NOW - 5 + 120 + s.SKEW


def test_aware_datetime_now_and_scene_collection() -> None:
    v = s.verifier()
    now = datetime.fromtimestamp(s.NOW, UTC)
    ok = v.verify(s.pres_text(), scene={Scene.TRANSIT, Scene.POS}, now=now)
    assert ok.scene is Scene.TRANSIT


def test_naive_datetime_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        s.verifier().verify(s.pres_text(), scene=Scene.TRANSIT, now=datetime(2026, 1, 1))


def test_time_window_edges() -> None:
    """Accepted exactly at the edges of the skew / TTL windows, refused one second beyond."""
    gen = s.NOW
    text = s.pres_text(generated_at=gen)
    assert s.verifier().check_only(text, scene=Scene.TRANSIT, now=gen - s.SKEW)
    assert s.verifier().check_only(text, scene=Scene.TRANSIT, now=gen + s.TTL + s.SKEW)
    for now, code in ((gen - s.SKEW - 1, "not_yet_valid"), (gen + s.TTL + s.SKEW + 1, "expired")):
        with pytest.raises(Refused) as info:
            s.verifier().check_only(text, scene=Scene.TRANSIT, now=now)
        assert info.value.code == code


def test_key_rotation_both_kids_verify() -> None:
    v = s.verifier()
    old = s.pres_text(certificate=s.cert(kid=1, issuer=s.ISSUER_1, serial=1))
    new = s.pres_text(certificate=s.cert(kid=2, issuer=s.ISSUER_2, serial=2))
    assert v.verify(old, scene=Scene.TRANSIT, now=s.NOW).kid == 1
    assert v.verify(new, scene=Scene.TRANSIT, now=s.NOW).kid == 2
    assert v.verify(s.server_text(kid=2, issuer=s.ISSUER_2), scene=Scene.LIBRARY, now=s.NOW)
    # A kid must match its own key: kid 2 signed with key 1 is refused.
    crossed = s.pres_text(certificate=s.cert(kid=2, issuer=s.ISSUER_1, serial=3))
    with pytest.raises(Refused) as info:
        v.verify(crossed, scene=Scene.TRANSIT, now=s.NOW)
    assert info.value.code == "bad_issuer_signature"


# --------------------------------------------------------------------------- refusal corpus

Case = Callable[[], tuple[Verifier, str, Scene, int]]


def _case(
    text: str, *, scene: Scene = Scene.TRANSIT, now: int = s.NOW, **verifier_kwargs
) -> tuple[Verifier, str, Scene, int]:
    return s.verifier(**verifier_kwargs), text, scene, now


def _forged_device_signature() -> str:
    pres = s.presentation()
    other = make_presentation(
        s.cert(device=s.OTHER_DEVICE), s.OTHER_DEVICE, Scene.TRANSIT, s.NOW - 5, 42
    )
    return encode(dataclasses.replace(pres, device_signature=other.device_signature))


def _upgraded_categories() -> str:
    """The holder edits their own certificate (free rides) and re-signs with their device key."""
    genuine = s.cert()
    forged = dataclasses.replace(genuine, categories=Category.SENIOR_65_PLUS | Category.VETERAN)
    return encode(make_presentation(forged, s.DEVICE, Scene.TRANSIT, s.NOW - 5, 42))


def _version(prefix: str, data: bytes, version: int) -> str:
    return prefix + b45encode(bytes([version]) + data[1:])


REFUSALS: dict[str, tuple[str, Case]] = {
    "empty": ("malformed", lambda: _case("")),
    "random bytes": ("malformed", lambda: _case(bytes(range(200)).decode("latin-1"))),
    "random base45 right length": (
        "malformed",
        lambda: _case("SC1:" + b45encode(b"\x07" * PRESENTATION_LEN)),
    ),
    "wrong prefix": ("malformed", lambda: _case("XX1:" + s.pres_text()[4:])),
    "truncated": ("malformed", lambda: _case(s.pres_text()[:-3])),
    "unknown version": (
        "malformed",
        lambda: _case(_version("SC1:", s.presentation().to_bytes(), 2)),
    ),
    "unknown server code version": (
        "malformed",
        lambda: _case(_version("SS1:", s.server_code().to_bytes(), 9), scene=Scene.LIBRARY),
    ),
    "unknown kid": ("unknown_issuer", lambda: _case(s.pres_text(), keys=[s.trusted(2)])),
    "revoked issuer key": (
        "unknown_issuer",
        lambda: _case(s.pres_text(), keys=[s.trusted(1, revoked=True)]),
    ),
    "issuer key expired before certificate ends": (
        "unknown_issuer",
        lambda: _case(s.pres_text(), keys=[s.trusted(1, not_after=s.NOW + 2 * s.DAY)]),
    ),
    "issuer key starts after certificate": (
        "unknown_issuer",
        lambda: _case(s.pres_text(), keys=[s.trusted(1, not_before=s.NOW)]),
    ),
    "server code: unknown kid": (
        "unknown_issuer",
        lambda: _case(s.server_text(kid=9), scene=Scene.LIBRARY),
    ),
    "server code: key outside validity": (
        "unknown_issuer",
        lambda: _case(
            s.server_text(), scene=Scene.LIBRARY, keys=[s.trusted(1, not_after=s.NOW - 10)]
        ),
    ),
    "bad issuer signature": (
        "bad_issuer_signature",
        lambda: _case(s.pres_text(certificate=s.cert(issuer=s.ISSUER_2))),
    ),
    "holder upgraded own categories": (
        "bad_issuer_signature",
        lambda: _case(_upgraded_categories()),
    ),
    "server code bad signature": (
        "bad_issuer_signature",
        lambda: _case(s.server_text(issuer=s.ISSUER_2), scene=Scene.LIBRARY),
    ),
    "certificate expired": (
        "certificate_expired",
        lambda: _case(
            s.pres_text(certificate=s.cert(not_before=s.NOW - 8 * s.DAY, not_after=s.NOW - 60))
        ),
    ),
    "certificate not yet valid": (
        "not_yet_valid",
        lambda: _case(
            s.pres_text(certificate=s.cert(not_before=s.NOW + 3600, not_after=s.NOW + s.DAY))
        ),
    ),
    "revoked serial": ("revoked", lambda: _case(s.pres_text(), revoked_serials={s.SERIAL: "lost"})),
    "revoked pseudonym": (
        "revoked",
        lambda: _case(s.pres_text(), revoked_pseudonyms=[s.PSEUDONYM]),
    ),
    "server code: revoked pseudonym": (
        "revoked",
        lambda: _case(s.server_text(), scene=Scene.LIBRARY, revoked_pseudonyms=[s.PSEUDONYM]),
    ),
    "bad device signature": ("bad_device_signature", lambda: _case(_forged_device_signature())),
    "expired presentation": (
        "expired",
        lambda: _case(s.pres_text(generated_at=s.NOW - s.TTL - s.SKEW - 1)),
    ),
    "expired server code": (
        "expired",
        lambda: _case(s.server_text(generated_at=s.NOW - 200, validity_s=120), scene=Scene.LIBRARY),
    ),
    "future generation time": (
        "not_yet_valid",
        lambda: _case(s.pres_text(generated_at=s.NOW + s.SKEW + 1)),
    ),
    "server code from the future": (
        "not_yet_valid",
        lambda: _case(s.server_text(generated_at=s.NOW + 600), scene=Scene.LIBRARY),
    ),
    "wrong scene": ("wrong_scene", lambda: _case(s.pres_text(scene=Scene.LIBRARY))),
    "generic is not a wildcard": ("wrong_scene", lambda: _case(s.pres_text(scene=Scene.GENERIC))),
    "server code wrong scene": ("wrong_scene", lambda: _case(s.server_text())),
}


@pytest.mark.parametrize("label", list(REFUSALS))
def test_refusal_corpus_and_nothing_recorded(label: str) -> None:
    expected, build = REFUSALS[label]
    v, text, scene, now = build()
    cache = v.replay_cache
    assert isinstance(cache, MemoryReplayCache)
    with pytest.raises(Refused) as info:
        v.verify(text, scene=scene, now=now)
    assert info.value.code == expected
    assert info.value.code in REFUSAL_CODES
    assert len(cache) == 0  # a refused code records nothing
    # check_only refuses identically
    with pytest.raises(Refused) as again:
        v.check_only(text, scene=scene, now=now)
    assert again.value.code == expected


def test_revoked_carries_the_deny_reason() -> None:
    v = s.verifier(revoked_serials={s.SERIAL: "lost"})
    with pytest.raises(Refused) as info:
        v.verify(s.pres_text(), scene=Scene.TRANSIT, now=s.NOW)
    assert info.value.code == "revoked"
    assert info.value.reason == "lost"


def test_refused_is_a_credential_error_with_known_codes_only() -> None:
    assert issubclass(Refused, CredentialError)
    with pytest.raises(ValueError):
        Refused("accepted")


def test_every_refusal_code_is_exercised() -> None:
    assert {code for code, _ in REFUSALS.values()} | {"replayed"} == set(REFUSAL_CODES)


# --------------------------------------------------------------------------- replay


def test_replayed_second_verify() -> None:
    v = s.verifier()
    text = s.pres_text()
    v.verify(text, scene=Scene.TRANSIT, now=s.NOW)
    with pytest.raises(Refused) as info:
        v.verify(text, scene=Scene.TRANSIT, now=s.NOW + 1)
    assert info.value.code == "replayed"
    assert len(v.replay_cache) == 1  # type: ignore[arg-type]
    # next counter from the same device is fine
    v.verify(s.pres_text(counter=43), scene=Scene.TRANSIT, now=s.NOW + 2)


def test_server_code_replayed() -> None:
    v = s.verifier()
    text = s.server_text()
    v.verify(text, scene=Scene.LIBRARY, now=s.NOW)
    with pytest.raises(Refused) as info:
        v.verify(text, scene=Scene.LIBRARY, now=s.NOW)
    assert info.value.code == "replayed"


def test_check_only_neither_reads_nor_writes_the_replay_cache() -> None:
    v = s.verifier()
    text = s.pres_text()
    v.check_only(text, scene=Scene.TRANSIT, now=s.NOW)
    v.check_only(text, scene=Scene.TRANSIT, now=s.NOW)
    assert len(v.replay_cache) == 0  # type: ignore[arg-type]
    v.verify(text, scene=Scene.TRANSIT, now=s.NOW)
    assert v.check_only(text, scene=Scene.TRANSIT, now=s.NOW).counter == 42


def test_replay_record_outlives_acceptance_window() -> None:
    """The record is kept exactly as long as the code could still be accepted."""
    v = s.verifier()
    text = s.pres_text(generated_at=s.NOW)
    ok = v.verify(text, scene=Scene.TRANSIT, now=s.NOW)
    with pytest.raises(Refused) as info:
        v.verify(text, scene=Scene.TRANSIT, now=ok.expires_at)
    assert info.value.code == "replayed"
    with pytest.raises(Refused) as info:
        v.verify(text, scene=Scene.TRANSIT, now=ok.expires_at + 1)
    assert info.value.code == "expired"


# --------------------------------------------------------------------------- certificate cache


@pytest.fixture
def count_signatures(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    real = verifier_module._verify_ed25519

    def counting(public_key, signature, message):
        calls.append(message[:20])
        return real(public_key, signature, message)

    monkeypatch.setattr(verifier_module, "_verify_ed25519", counting)
    return calls


def test_warm_cache_does_one_signature_verification(count_signatures: list[bytes]) -> None:
    v = s.verifier()
    certificate = s.cert()
    v.verify(s.pres_text(certificate=certificate, counter=1), scene=Scene.TRANSIT, now=s.NOW)
    assert len(count_signatures) == 2  # cold: issuer + device
    count_signatures.clear()
    v.verify(s.pres_text(certificate=certificate, counter=2), scene=Scene.TRANSIT, now=s.NOW)
    assert len(count_signatures) == 1  # warm: device only
    assert count_signatures[0].startswith(b"SSC-ONECARD/PRES")


def test_tampered_certificate_with_cached_serial_misses_the_cache(
    count_signatures: list[bytes],
) -> None:
    v = s.verifier()
    v.verify(s.pres_text(counter=1), scene=Scene.TRANSIT, now=s.NOW)  # warm the cache
    count_signatures.clear()
    with pytest.raises(Refused) as info:
        v.verify(_upgraded_categories(), scene=Scene.TRANSIT, now=s.NOW)
    assert info.value.code == "bad_issuer_signature"
    assert count_signatures == [b"SSC-ONECARD/CERT/v1\x00"]
    count_signatures.clear()
    with pytest.raises(Refused):  # still not cached after the failure
        v.verify(_upgraded_categories(), scene=Scene.TRANSIT, now=s.NOW)
    assert len(count_signatures) == 1
    assert len(v.replay_cache) == 1  # type: ignore[arg-type]


def test_new_trust_list_empties_the_cache(count_signatures: list[bytes]) -> None:
    v = s.verifier()
    v.verify(s.pres_text(counter=1), scene=Scene.TRANSIT, now=s.NOW)
    v.update_lists(trust_list=s.trust_list(s.trusted(1, revoked=True)))
    with pytest.raises(Refused) as info:
        v.verify(s.pres_text(counter=2), scene=Scene.TRANSIT, now=s.NOW)
    assert info.value.code == "unknown_issuer"
    v.update_lists(trust_list=s.trust_list())
    count_signatures.clear()
    v.verify(s.pres_text(counter=3), scene=Scene.TRANSIT, now=s.NOW)
    assert len(count_signatures) == 2


def test_new_revocation_list_applies_to_cached_certificates() -> None:
    v = s.verifier()
    v.verify(s.pres_text(counter=1), scene=Scene.TRANSIT, now=s.NOW)
    v.update_lists(revocation_list=RevocationList(pseudonyms={s.PSEUDONYM: "sealed"}, version=4))
    with pytest.raises(Refused) as info:
        v.verify(s.pres_text(counter=2), scene=Scene.TRANSIT, now=s.NOW)
    assert (info.value.code, info.value.reason) == ("revoked", "sealed")


def test_cert_cache_is_bounded(count_signatures: list[bytes]) -> None:
    v = s.verifier(cert_cache_size=2)
    certs = [s.cert(serial=n) for n in range(3)]
    for n, c in enumerate(certs):
        v.verify(s.pres_text(certificate=c, counter=n), scene=Scene.TRANSIT, now=s.NOW)
    count_signatures.clear()
    v.verify(s.pres_text(certificate=certs[0], counter=9), scene=Scene.TRANSIT, now=s.NOW)
    assert len(count_signatures) == 2  # serial 0 was evicted (LRU)
    count_signatures.clear()
    v.verify(s.pres_text(certificate=certs[2], counter=9), scene=Scene.TRANSIT, now=s.NOW)
    assert len(count_signatures) == 1


# --------------------------------------------------------------------------- bit flips

PRES_EXPECTED: list[tuple[range, set[str]]] = [
    (range(0, 1), {"malformed"}),  # version
    (range(1, 3), {"unknown_issuer", "bad_issuer_signature"}),  # kid
    (range(3, 28), {"bad_issuer_signature"}),  # serial, pseudonym, categories, city, cap
    (
        range(28, 34),
        {"unknown_issuer", "certificate_expired", "not_yet_valid", "bad_issuer_signature"},
    ),  # not_before, minutes
    (range(34, CERTIFICATE_LEN), {"bad_issuer_signature"}),  # device key, issuer signature
    (range(130, 131), {"malformed", "wrong_scene"}),  # scene
    (range(131, 135), {"expired", "not_yet_valid", "bad_device_signature"}),  # generated_at
    (range(135, PRESENTATION_LEN), {"bad_device_signature"}),  # counter, device signature
]

SERVER_EXPECTED: list[tuple[range, set[str]]] = [
    (range(0, 1), {"malformed"}),
    (range(1, 3), {"unknown_issuer", "bad_issuer_signature"}),
    (range(3, 21), {"bad_issuer_signature"}),  # serial, pseudonym
    (range(21, 22), {"malformed", "wrong_scene"}),
    (range(22, 28), {"unknown_issuer", "not_yet_valid", "expired", "bad_issuer_signature"}),
    (range(28, SERVER_CODE_LEN), {"bad_issuer_signature"}),
]


def _expected(table: list[tuple[range, set[str]]], offset: int) -> set[str]:
    for where, codes in table:
        if offset in where:
            return codes
    raise AssertionError(offset)


@pytest.mark.parametrize(
    ("prefix", "text", "scene", "table", "size"),
    [
        ("SC1:", s.pres_text(), Scene.TRANSIT, PRES_EXPECTED, PRESENTATION_LEN),
        ("SS1:", s.server_text(), Scene.LIBRARY, SERVER_EXPECTED, SERVER_CODE_LEN),
    ],
    ids=["presentation", "server"],
)
def test_every_bit_flip_is_refused(prefix, text, scene, table, size) -> None:
    v = s.verifier()
    v.check_only(text, scene=scene, now=s.NOW)  # warm the certificate cache
    data = b45decode(text[4:])
    assert len(data) == size
    seen: dict[str, int] = {}
    for offset in range(size):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[offset] ^= 1 << bit
            with pytest.raises(Refused) as info:
                v.verify(prefix + b45encode(bytes(flipped)), scene=scene, now=s.NOW)
            code = info.value.code
            assert code in _expected(table, offset), (offset, bit, code)
            seen[code] = seen.get(code, 0) + 1
    assert {"malformed", "bad_issuer_signature"} <= set(seen)
    assert prefix == "SS1:" or "bad_device_signature" in seen
    assert len(v.replay_cache) == 0  # type: ignore[arg-type]
    # the genuine code still verifies afterwards
    assert v.verify(text, scene=scene, now=s.NOW)


# --------------------------------------------------------------------------- fuzzing


FUZZ_VERIFIER = s.verifier()


def _only_refused(text: str) -> None:
    before = len(FUZZ_VERIFIER.replay_cache)  # type: ignore[arg-type]
    try:
        FUZZ_VERIFIER.verify(text, scene=Scene.TRANSIT, now=s.NOW)
    except Refused as exc:
        assert exc.code in REFUSAL_CODES
        assert len(FUZZ_VERIFIER.replay_cache) == before  # type: ignore[arg-type]
    else:  # pragma: no cover - would mean a forged signature
        raise AssertionError(f"accepted fuzz input {text!r}")


@settings(max_examples=400, database=None, deadline=None)
@given(st.text(max_size=400))
def test_verify_arbitrary_text_only_refuses(text: str) -> None:
    _only_refused(text)


@settings(max_examples=300, database=None, deadline=None)
@given(
    st.sampled_from([PRESENTATION_PREFIX, SERVER_CODE_PREFIX]),
    st.text(alphabet=ALPHABET, min_size=140, max_size=320),
)
def test_verify_arbitrary_alphanumeric_only_refuses(prefix: str, body: str) -> None:
    _only_refused(prefix + body)


GENUINE_PRES = s.presentation().to_bytes()
GENUINE_SERVER = s.server_code().to_bytes()


@settings(max_examples=400, database=None, deadline=None)
@given(
    st.sampled_from([PRESENTATION_PREFIX, SERVER_CODE_PREFIX]),
    st.one_of(
        st.binary(max_size=260),
        st.binary(min_size=PRESENTATION_LEN, max_size=PRESENTATION_LEN),
        st.binary(min_size=SERVER_CODE_LEN, max_size=SERVER_CODE_LEN),
        # genuine headers (trusted kid, valid times) followed by arbitrary bytes
        st.builds(
            lambda keep, tail: GENUINE_PRES[:keep] + tail[: PRESENTATION_LEN - keep],
            st.integers(1, PRESENTATION_LEN),
            st.binary(min_size=PRESENTATION_LEN, max_size=PRESENTATION_LEN),
        ),
        st.builds(
            lambda keep, tail: GENUINE_SERVER[:keep] + tail[: SERVER_CODE_LEN - keep],
            st.integers(1, SERVER_CODE_LEN),
            st.binary(min_size=SERVER_CODE_LEN, max_size=SERVER_CODE_LEN),
        ),
    ),
)
def test_verify_arbitrary_bytes_only_refuses(prefix: str, data: bytes) -> None:
    if data in (GENUINE_PRES, GENUINE_SERVER):
        return  # the genuine code itself (keep == full length)
    _only_refused(prefix + b45encode(data))


def test_trust_list_rejects_duplicate_kids() -> None:
    with pytest.raises(ValueError):
        TrustList([s.trusted(1), s.trusted(1, s.ISSUER_2)])
    assert TrustList().get(1) is None


def test_format_document_lists_every_refusal_code() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "credential-format.md").read_text(
        encoding="utf-8"
    )
    for code in REFUSAL_CODES:
        assert f"| `{code}` |" in doc, code
