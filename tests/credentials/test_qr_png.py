"""Scannability: render real QR PNGs, read them back with ZXing, verify the decoded text."""

from __future__ import annotations

import io

import pytest
import qrcode
from PIL import Image

from server.credentials.codec import Scene

from . import _support as s

zxingcpp = pytest.importorskip("zxingcpp")


def _render_and_scan(text: str) -> tuple[str, int]:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=4, border=4)
    qr.add_data(text, optimize=0)  # one alphanumeric segment
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer, format="PNG")
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text, qr.version


@pytest.mark.parametrize("counter", [1, 2, 3])
def test_presentation_png_scans_and_verifies(counter: int) -> None:
    text = s.pres_text(counter=counter)
    scanned, version = _render_and_scan(text)
    assert version <= 10
    assert scanned == text
    ok = s.verifier().verify(scanned, scene=Scene.TRANSIT, now=s.NOW)
    assert ok.counter == counter


def test_server_code_png_scans_and_verifies() -> None:
    text = s.server_text()
    scanned, version = _render_and_scan(text)
    assert version <= 7
    assert scanned == text
    assert s.verifier().verify(scanned, scene=Scene.LIBRARY, now=s.NOW).kind == "server"
