"""Codec: round trips, sizes and QR versions, strict parsing, offline purity."""

from __future__ import annotations

import ast
import dataclasses
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import qrcode
from hypothesis import given, settings
from hypothesis import strategies as st
from qrcode.util import MODE_ALPHA_NUM

from server.credentials import codec
from server.credentials.base45 import ALPHABET, b45decode, b45encode
from server.credentials.codec import (
    CERTIFICATE_LEN,
    PRESENTATION_LEN,
    PRESENTATION_PREFIX,
    SERVER_CODE_LEN,
    SERVER_CODE_PREFIX,
    Category,
    Certificate,
    CredentialError,
    Presentation,
    Scene,
    ServerCode,
    decode,
    encode,
    make_presentation,
    sign_certificate,
    to_unix,
)

from . import _support as s

QR_ALNUM = set(ALPHABET)
PACKAGE_DIR = Path(codec.__file__).resolve().parent


def qr_version(text: str) -> int:
    """Version chosen by ``qrcode`` (level M, fit=True) for the text as ONE alphanumeric segment.

    ``optimize=0`` matters: qrcode's default (``optimize=20``) splits out runs of 20+ digits and
    then encodes short leftovers in byte mode, which can push a zero-heavy code to version 11."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text, optimize=0)
    qr.make(fit=True)
    assert [d.mode for d in qr.data_list] == [MODE_ALPHA_NUM]
    return qr.version


# --------------------------------------------------------------------------- round trip, sizes


def test_presentation_round_trip() -> None:
    pres = s.presentation()
    text = encode(pres)
    assert text.startswith("SC1:")
    decoded = decode(text)
    assert decoded == pres
    assert isinstance(decoded, Presentation)
    assert decoded.certificate.categories == Category.SENIOR_65_PLUS | Category.DISABLED
    assert decoded.certificate.home_city == 440300
    assert decoded.certificate.not_after - decoded.certificate.not_before == 7 * s.DAY
    assert decoded.scene is Scene.TRANSIT
    assert Certificate.from_bytes(pres.certificate.to_bytes()) == pres.certificate


def test_server_code_round_trip() -> None:
    code = s.server_code()
    text = encode(code)
    assert text.startswith("SS1:")
    assert decode(text) == code
    assert isinstance(decode(text), ServerCode)


def test_binary_sizes() -> None:
    assert CERTIFICATE_LEN == 130
    assert PRESENTATION_LEN == 203
    assert SERVER_CODE_LEN == 99
    assert len(s.cert().to_bytes()) == 130
    assert len(s.presentation().to_bytes()) == 203
    assert len(s.server_code().to_bytes()) == 99


def test_presentation_fits_qr_version_10_m() -> None:
    text = s.pres_text()
    assert len(text) == 309 <= 311
    assert set(text) <= QR_ALNUM
    assert qr_version(text) <= 10


def test_server_code_fits_qr_version_7_m() -> None:
    text = s.server_text()
    assert len(text) == 153 <= 154
    assert set(text) <= QR_ALNUM
    assert qr_version(text) <= 7
    assert qr_version(text) == 6  # measured: 153 chars fit 6-M (capacity 154)


def test_sample_codes_also_fit_with_qrcode_default_segmentation() -> None:
    for text, limit in ((s.pres_text(), 10), (s.server_text(), 7)):
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
        qr.add_data(text)
        qr.make(fit=True)
        assert qr.version <= limit


@settings(max_examples=40, database=None, deadline=None)
@given(
    issuer_seed=st.binary(min_size=32, max_size=32),
    device_seed=st.binary(min_size=32, max_size=32),
    serial=st.integers(0, 2**64 - 1),
    pseudonym=st.binary(min_size=10, max_size=10),
    kid=st.integers(0, 0xFFFF),
    categories=st.integers(0, 0xFFFF),
    cap=st.integers(0, 0xFFFFFF),
    counter=st.integers(0, 2**32 - 1),
    scene=st.sampled_from(list(Scene)),
)
def test_any_presentation_fits_version_10_and_server_code_version_7(
    issuer_seed, device_seed, serial, pseudonym, kid, categories, cap, counter, scene
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    issuer = Ed25519PrivateKey.from_private_bytes(issuer_seed)
    device = Ed25519PrivateKey.from_private_bytes(device_seed)
    certificate = sign_certificate(
        kid=kid,
        serial=serial,
        pseudonym=pseudonym,
        categories=categories,
        home_city=445300,
        per_use_cap_fen=cap,
        not_before=s.NOW,
        not_after=s.NOW + 65_535 * 60,
        device_public_key=device.public_key(),
        issuer_private_key=issuer,
    )
    text = encode(make_presentation(certificate, device, scene, s.NOW, counter))
    assert decode(text).certificate == certificate
    assert qr_version(text) <= 10
    code = codec.make_server_code(
        kid=kid,
        serial=serial,
        pseudonym=pseudonym,
        scene=scene,
        generated_at=s.NOW,
        validity_s=0xFFFF,
        categories=categories,
        home_city=440100,
        per_use_cap_fen=cap,
        issuer_private_key=issuer,
    )
    assert qr_version(encode(code)) <= 7


def test_zero_heavy_presentation_is_still_version_10() -> None:
    """Regression: hypothesis found this one at version 11 with qrcode's default segmentation."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    zero = Ed25519PrivateKey.from_private_bytes(bytes(32))
    certificate = sign_certificate(
        kid=0,
        serial=44320,
        pseudonym=bytes(10),
        categories=0,
        home_city=0,
        per_use_cap_fen=0,
        not_before=s.NOW,
        not_after=s.NOW + 60,
        device_public_key=zero.public_key(),
        issuer_private_key=zero,
    )
    text = encode(make_presentation(certificate, zero, Scene.TRANSIT, s.NOW, 0))
    assert len(text) == 309
    assert qr_version(text) == 10


def test_unknown_category_bits_are_preserved() -> None:
    certificate = s.cert(categories=Category(0x8001))
    decoded = decode(encode(s.presentation(certificate)))
    assert int(decoded.certificate.categories) == 0x8001


def test_datetime_inputs() -> None:
    when = datetime.fromtimestamp(s.NOW, UTC)
    assert to_unix(when) == s.NOW
    assert to_unix(when.astimezone(timezone(timedelta(hours=8)))) == s.NOW
    with pytest.raises(ValueError):
        to_unix(when.replace(tzinfo=None))
    with pytest.raises(TypeError):
        to_unix(True)
    a = s.presentation(generated_at=s.NOW)
    b = make_presentation(a.certificate, s.DEVICE, Scene.TRANSIT, when, 42)
    assert a == b


# --------------------------------------------------------------------------- construction errors


@pytest.mark.parametrize(
    "change",
    [
        {"kid": 0x10000},
        {"kid": -1},
        {"serial": 2**64},
        {"pseudonym": b"short"},
        {"pseudonym": bytes(12)},
        {"home_city": 440101},
        {"home_city": 0xFFFF * 100 + 100},
        {"per_use_cap_fen": 0x1000000},
        {"not_after": s.NOW - 2 * s.DAY},  # before not_before
        {"not_after": s.NOW + 6 * s.DAY + 1},  # not whole minutes
        {"not_after": s.NOW - s.DAY + 65_536 * 60},  # beyond 65,535 minutes
        {"categories": 0x10000},
    ],
)
def test_sign_certificate_rejects_unrepresentable_fields(change: dict) -> None:
    with pytest.raises((ValueError, TypeError)):
        s.cert(**change)


def test_make_presentation_requires_the_certificates_device_key() -> None:
    with pytest.raises(ValueError):
        make_presentation(s.cert(), s.OTHER_DEVICE, Scene.TRANSIT, s.NOW, 1)


def test_make_presentation_rejects_bad_counter() -> None:
    with pytest.raises(ValueError):
        make_presentation(s.cert(), s.DEVICE, Scene.TRANSIT, s.NOW, 2**32)


def test_encode_rejects_other_objects() -> None:
    with pytest.raises(TypeError):
        encode(s.cert())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- malformed corpus


def _valid_binaries() -> list[tuple[str, bytes]]:
    return [
        (PRESENTATION_PREFIX, s.presentation().to_bytes()),
        (SERVER_CODE_PREFIX, s.server_code().to_bytes()),
    ]


def _malformed_corpus() -> list[tuple[str, object]]:
    pres = s.pres_text()
    srv = s.server_text()
    rng_bytes = bytes(range(256)) * 2
    corpus: list[tuple[str, object]] = [
        ("empty", ""),
        ("prefix only", "SC1:"),
        ("random bytes as text", os.urandom(203).decode("latin-1")),
        ("fixed bytes as text", rng_bytes.decode("latin-1")),
        ("random bytes with prefix", "SC1:" + b45encode(os.urandom(203))),
        ("wrong prefix", "SX1:" + pres[4:]),
        ("lowercase prefix", "sc1:" + pres[4:]),
        ("no prefix", pres[4:]),
        ("future prefix version", "SC2:" + pres[4:]),
        ("server prefix on presentation", "SS1:" + pres[4:]),
        ("presentation prefix on server code", "SC1:" + srv[4:]),
        ("lowercase body", pres.lower()),
        ("bad base45 char", pres[:-1] + "#"),
        ("base45 overflow", pres[:-3] + ":::"),
        ("leading space", " " + pres),
        ("url form", "https://example.org/" + pres),
        ("not a string", pres.encode()),
        ("none", None),
        ("trailing bytes", "SC1:" + b45encode(s.presentation().to_bytes() + b"\x00")),
        ("trailing bytes server", "SS1:" + b45encode(s.server_code().to_bytes() + b"\x00")),
    ]
    for prefix, data in _valid_binaries():
        for version in (0, 2, 0xFF):
            corpus.append(
                (f"{prefix} version {version}", prefix + b45encode(bytes([version]) + data[1:]))
            )
    bad_scene = bytearray(s.server_code().to_bytes())
    bad_scene[21] = 0
    corpus.append(("server scene 0", "SS1:" + b45encode(bytes(bad_scene))))
    bad_scene[21] = 200
    corpus.append(("server scene 200", "SS1:" + b45encode(bytes(bad_scene))))
    bad_pres_scene = bytearray(s.presentation().to_bytes())
    bad_pres_scene[CERTIFICATE_LEN] = 0
    corpus.append(("presentation scene 0", "SC1:" + b45encode(bytes(bad_pres_scene))))
    return corpus


@pytest.mark.parametrize(("label", "text"), _malformed_corpus(), ids=lambda v: str(v)[:40])
def test_malformed_corpus(label: str, text: object) -> None:
    with pytest.raises(CredentialError) as info:
        decode(text)  # type: ignore[arg-type]
    assert info.value.code == "malformed"


@pytest.mark.parametrize(("prefix", "data"), _valid_binaries(), ids=["presentation", "server"])
def test_cut_short_at_every_byte_length(prefix: str, data: bytes) -> None:
    for n in range(len(data)):
        with pytest.raises(CredentialError) as info:
            decode(prefix + b45encode(data[:n]))
        assert info.value.code == "malformed", n


@pytest.mark.parametrize("text", [s.pres_text(), s.server_text()], ids=["presentation", "server"])
def test_cut_short_at_every_character(text: str) -> None:
    for n in range(len(text)):
        with pytest.raises(CredentialError) as info:
            decode(text[:n])
        assert info.value.code == "malformed", n


def test_scanner_line_ending_is_tolerated() -> None:
    pres = s.presentation()
    assert decode(encode(pres) + "\r\n") == pres


def test_from_bytes_wrong_lengths() -> None:
    for parser, size in (
        (Certificate.from_bytes, CERTIFICATE_LEN),
        (Presentation.from_bytes, PRESENTATION_LEN),
        (ServerCode.from_bytes, SERVER_CODE_LEN),
    ):
        for n in (0, size - 1, size + 1):
            with pytest.raises(CredentialError):
                parser(bytes(n))


@settings(max_examples=500, database=None, deadline=None)
@given(st.text(max_size=400))
def test_decode_arbitrary_text_raises_only_credential_error(text: str) -> None:
    try:
        decode(text)
    except CredentialError as exc:
        assert exc.code == "malformed"


@settings(max_examples=300, database=None, deadline=None)
@given(
    st.sampled_from([PRESENTATION_PREFIX, SERVER_CODE_PREFIX]),
    st.text(alphabet=ALPHABET, min_size=140, max_size=320),
)
def test_decode_arbitrary_alphanumeric_raises_only_credential_error(prefix: str, body: str) -> None:
    try:
        decode(prefix + body)
    except CredentialError as exc:
        assert exc.code == "malformed"


@settings(max_examples=500, database=None, deadline=None)
@given(
    st.sampled_from([PRESENTATION_PREFIX, SERVER_CODE_PREFIX]),
    st.one_of(
        st.binary(max_size=260),
        st.binary(min_size=PRESENTATION_LEN, max_size=PRESENTATION_LEN),
        st.binary(min_size=SERVER_CODE_LEN, max_size=SERVER_CODE_LEN),
        st.binary(min_size=PRESENTATION_LEN - 1, max_size=PRESENTATION_LEN - 1).map(
            lambda b: b"\x01" + b
        ),
        st.binary(min_size=SERVER_CODE_LEN - 1, max_size=SERVER_CODE_LEN - 1).map(
            lambda b: b"\x01" + b
        ),
    ),
)
def test_decode_arbitrary_bytes_raises_only_credential_error(prefix: str, data: bytes) -> None:
    text = prefix + b45encode(data)
    try:
        obj = decode(text)
    except CredentialError as exc:
        assert exc.code == "malformed"
        return
    # Whatever parses re-encodes to the very same text: the binary form is canonical.
    assert encode(obj) == text
    assert b45decode(text[4:]) == obj.to_bytes()


def test_dataclasses_are_frozen() -> None:
    pres = s.presentation()
    with pytest.raises(dataclasses.FrozenInstanceError):
        pres.counter = 1  # type: ignore[misc]


# --------------------------------------------------------------------------- offline purity

OFFLINE_MODULES = ("base45.py", "codec.py", "verifier.py")


@pytest.mark.parametrize("name", OFFLINE_MODULES)
def test_offline_modules_import_only_stdlib_and_the_crypto_libraries(name: str) -> None:
    tree = ast.parse((PACKAGE_DIR / name).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: must stay inside the offline trio
                assert node.module in ("base45", "codec", "verifier"), node.module
                continue
            roots = [(node.module or "").split(".")[0]]
        else:
            continue
        for root in roots:
            assert root in ("cryptography", "nacl") or root in sys.stdlib_module_names, root
            assert root not in ("flask", "sqlalchemy", "server")


def test_offline_modules_run_without_the_server_package(tmp_path: Path) -> None:
    """Copied alone into another package (as a gate would ship them), they import and verify."""
    package = tmp_path / "gate_credentials"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in OFFLINE_MODULES:
        shutil.copy(PACKAGE_DIR / name, package / name)
    issuer_hex = s.ISSUER_1.public_key().public_bytes_raw().hex()
    script = f"""
import sys
from gate_credentials.verifier import Verifier, TrustList, TrustedKey
from gate_credentials.codec import decode
bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'server'))
assert not bad, bad
key = TrustedKey(1, bytes.fromhex({issuer_hex!r}), {s.NOW - 30 * s.DAY}, {s.NOW + 60 * s.DAY})
v = Verifier(TrustList([key]))
ok = v.verify({s.pres_text()!r}, scene=1, now={s.NOW})
assert ok.counter == 42, ok
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_fast_server_code_signer_writes_the_same_text_as_the_dataclass_path():
    from server.credentials.codec import ServerCodeSigner, encode, make_server_code

    issuer = s.key("fast-signer")
    fields = dict(
        serial=987654321,
        pseudonym=s.PSEUDONYM,
        scene=Scene.VENUE,
        generated_at=s.NOW,
        validity_s=60,
        categories=Category.SENIOR_65_PLUS | Category.DISABLED,
        home_city=440600,
        per_use_cap_fen=20000,
    )
    slow = encode(make_server_code(kid=7, issuer_private_key=issuer, **fields))
    assert ServerCodeSigner(7, issuer).text(**fields) == slow


@pytest.mark.parametrize(
    ("field", "value"),
    [("home_city", 440101), ("validity_s", 0), ("scene", 99), ("pseudonym", b"short")],
)
def test_the_fast_server_code_signer_checks_its_input(field, value):
    from server.credentials.codec import ServerCodeSigner

    fields = dict(
        serial=1, pseudonym=s.PSEUDONYM, scene=Scene.VENUE, generated_at=s.NOW, validity_s=60,
        categories=0, home_city=440100, per_use_cap_fen=0,
    )  # fmt: skip
    fields[field] = value
    with pytest.raises(ValueError):
        ServerCodeSigner(7, s.key("x")).text(**fields)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(min_size=codec._CERT_TBS.size - 1, max_size=codec._CERT_TBS.size - 1))
def test_a_certificate_read_from_the_wire_is_the_one_its_fields_make(body):
    """Parsing skips __post_init__'s checks because every field's width is its limit: any wire
    certificate must equal the certificate built, checked, from the same fields."""
    data = bytes([codec.FORMAT_VERSION]) + body + bytes(range(codec.SIGNATURE_LEN))
    parsed = Certificate.from_bytes(data)
    checked = Certificate(
        **{f.name: getattr(parsed, f.name) for f in dataclasses.fields(Certificate)}
    )
    assert parsed == checked
    assert type(parsed.categories) is codec.Category
    assert parsed.to_bytes() == data
