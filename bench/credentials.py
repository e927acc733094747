"""Credential benchmark: how close verification and code issuance come to raw Ed25519.

Measured in one process, the raw Ed25519 sign and verify rates are the baseline (verify: libsodium,
the primitive the verifier uses; OpenSSL's rate is printed for context); the ratios say what the
codec, the checks and the caches cost on top:

- ``verify_warm_per_s``: a presentation whose certificate is already cached (one signature check);
- ``verify_cold_per_s``: a certificate seen for the first time (two signature checks);
- ``issue_server_code_per_s``: building, signing and Base45-encoding a server code with the
  issuer key in memory (what the service does after loading the holder);
- ``verify_online_per_s`` and ``issue_server_code_service_per_s``: the same through the real
  service functions on ``DATABASE_URL`` (database round trips included; no goal, for context).

Goals: verify_warm_ratio >= 0.8, verify_cold_ratio >= 0.4, issue_ratio >= 0.7, device-bound
qr_version_m <= 10 (server-signed <= 7).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import qrcode
from _common import build_app, emit, note, upgrade_schema
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.bindings import crypto_sign_open

from server.credentials.codec import (
    Category,
    Scene,
    ServerCodeSigner,
    encode,
    make_presentation,
    sign_certificate,
)
from server.credentials.verifier import RevocationList, TrustedKey, TrustList, Verifier

N = int(os.environ.get("BENCH_CREDENTIAL_OPS", "4000"))
ROUNDS = 9  # median of alternating passes: the machine drifts by several percent
NOW = int(time.time())


def one_pass(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def paired(baseline, measured, items) -> tuple[float, float, float]:
    """Baseline and measured rates taken in alternating passes, so both see the same machine;
    returns the median baseline rate, the median measured rate and the median per-round ratio."""
    base_rates, rates, ratios = [], [], []
    for _ in range(ROUNDS):
        b = one_pass(baseline, items)
        m = measured()
        base_rates.append(b)
        rates.append(m)
        ratios.append(m / b)
    return statistics.median(base_rates), statistics.median(rates), statistics.median(ratios)


def qr_version(text: str) -> int:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text, optimize=0)
    qr.make(fit=True)
    return qr.version


def offline_figures() -> dict:
    issuer = Ed25519PrivateKey.generate()
    device = Ed25519PrivateKey.generate()
    kid = 4242

    def certificate(serial: int):
        return sign_certificate(
            kid=kid, serial=serial, pseudonym=serial.to_bytes(10, "big"),
            categories=Category.SENIOR_65_PLUS, home_city=440100, per_use_cap_fen=20000,
            not_before=NOW - 60, not_after=NOW + 7 * 86400, device_public_key=device.public_key(),
            issuer_private_key=issuer,
        )  # fmt: skip

    cert = certificate(1)
    warm_codes = [encode(make_presentation(cert, device, Scene.TRANSIT, NOW, i)) for i in range(N)]
    cold_codes = [
        encode(make_presentation(certificate(1000 + i), device, Scene.TRANSIT, NOW, 1))
        for i in range(N)
    ]
    trust = TrustList(
        [TrustedKey(kid=kid, public_key=issuer.public_key(), not_before=0, not_after=2**32 - 1)]
    )
    message = b"x" * 150  # about a presentation's signed bytes
    public = device.public_key()
    public_raw = public.public_bytes_raw()
    # N different messages, as the verifier sees: checking one signature N times over flatters the
    # primitive by about 5 % (its branches and tables stay warm for the same input).
    signed = [(device.sign(m), m) for m in (i.to_bytes(4, "big") + message[4:] for i in range(N))]

    def raw_verify(i):  # the primitive the verifier uses (libsodium through PyNaCl)
        sig, msg = signed[i]
        crypto_sign_open(sig + msg, public_raw)

    def openssl_verify(i):  # for context: the same check through cryptography (OpenSSL)
        sig, msg = signed[i]
        public.verify(sig, msg)

    def raw_sign(_):
        issuer.sign(message)

    warm = Verifier(trust, RevocationList(), None)
    warm.check_only(warm_codes[0], scene=Scene.TRANSIT, now=NOW)  # caches the certificate

    def warm_pass() -> float:
        return one_pass(lambda c: warm.check_only(c, scene=Scene.TRANSIT, now=NOW), warm_codes)

    def cold_pass() -> float:
        verifier = Verifier(trust, RevocationList(), None)  # empty cache: every code is new
        return one_pass(lambda c: verifier.check_only(c, scene=Scene.TRANSIT, now=NOW), cold_codes)

    signer = ServerCodeSigner(kid, issuer)  # what the service uses, key already in memory

    def issue(i: int) -> str:
        return signer.text(
            serial=i + 1, pseudonym=b"\x01" * 10, scene=Scene.VENUE, generated_at=NOW,
            validity_s=60, categories=Category.SENIOR_65_PLUS, home_city=440100,
            per_use_cap_fen=20000,
        )  # fmt: skip

    raw_verify_rate, verify_warm, warm_ratio = paired(raw_verify, warm_pass, range(N))
    openssl_rate = statistics.median(one_pass(openssl_verify, range(N)) for _ in range(ROUNDS))
    _, verify_cold, cold_ratio = paired(raw_verify, cold_pass, range(N))
    raw_sign_rate, issue_rate, issue_ratio = paired(
        raw_sign, lambda: one_pass(issue, range(N)), range(N)
    )
    device_code, server_code = warm_codes[0], issue(0)
    return {
        "ed25519_sign_per_s": round(raw_sign_rate),
        "ed25519_verify_per_s": round(raw_verify_rate),
        "ed25519_verify_openssl_per_s": round(openssl_rate),
        "verify_warm_per_s": round(verify_warm),
        "verify_cold_per_s": round(verify_cold),
        "issue_server_code_per_s": round(issue_rate),
        "verify_warm_ratio": round(warm_ratio, 3),
        "verify_cold_ratio": round(cold_ratio, 3),
        "issue_ratio": round(issue_ratio, 3),
        "presentation_chars": len(device_code),
        "qr_version_m": qr_version(device_code),
        "server_code_chars": len(server_code),
        "server_code_qr_version_m": qr_version(server_code),
    }


def service_figures() -> dict:
    """Online verification and server-code issuance through the services, on the database."""
    from server.credentials import service
    from server.extensions import db
    from server.registry.demo import seed_demo

    app = build_app()
    upgrade_schema(app)
    now = datetime.now(UTC)
    count = min(N, 1500)
    with app.app_context():
        seed_demo(db.session, now - timedelta(minutes=5))
        device = Ed25519PrivateKey.generate()
        from server.registry.models import Card, Person

        person = db.session.query(Person).filter_by(name="陈伯").one()
        person_id = person.id
        signed = service.sign_ecard(
            db.session, None, person_id, public_key=device.public_key().public_bytes_raw(),
            app_id="bench", device_label="bench", now=now,
        )  # fmt: skip
        from server.credentials.codec import Certificate

        cert = Certificate.from_bytes(signed.certificate.encoded)
        codes = [
            encode(make_presentation(cert, device, Scene.TRANSIT, now, i)) for i in range(count)
        ]
        assert db.session.get(Card, signed.channel.card_id).state == "active"
        db.session.remove()

        start = time.perf_counter()
        for code in codes:
            service.verify_online(
                db.session, text=code, scene=Scene.TRANSIT, terminal_id=None, now=now
            )
            db.session.remove()
        online = count / (time.perf_counter() - start)

        start = time.perf_counter()
        for _ in range(count):
            service.issue_server_code(db.session, person_id, Scene.VENUE, now)
            db.session.remove()
        issued = count / (time.perf_counter() - start)
    return {
        "verify_online_per_s": round(online),
        "issue_server_code_service_per_s": round(issued),
        "database": app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0],
    }


def main() -> None:
    result = {"bench": "credentials", "ops": N}
    note(f"offline figures over {N} operations x {ROUNDS} rounds")
    result.update(offline_figures())
    note("service figures on DATABASE_URL")
    result.update(service_figures())
    result["goals"] = {
        "verify_warm_ratio >= 0.8": result["verify_warm_ratio"] >= 0.8,
        "verify_cold_ratio >= 0.4": result["verify_cold_ratio"] >= 0.4,
        "issue_ratio >= 0.7": result["issue_ratio"] >= 0.7,
        "qr_version_m <= 10": result["qr_version_m"] <= 10,
        "server_code_qr_version_m <= 7": result["server_code_qr_version_m"] <= 7,
    }
    emit(result)


if __name__ == "__main__":
    main()
