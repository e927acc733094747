"""Demo phone: sign in a demo cardholder and show a fresh QR code every 30 seconds.

    python -m mobile_api.demo --server http://127.0.0.1:5000
    python -m mobile_api.demo --once            # one code, then exit

The SMS code is read from the development outbox (``flask sms outbox``) when the server runs with
``SSC_SMS_SENDER=outbox`` on this machine's database, or typed in with ``--code``.
"""

from __future__ import annotations

import argparse
import sys
import time

from mobile_api.client import ApiError, PhoneClient, ascii_qr
from server.clock import SHANGHAI

DEMO_PHONE = "13800000001"
DEMO_ID = "440104195003120311"  # 陈伯, Guangzhou, 76: `flask seed demo`
DEMO_NAME = "陈伯"


def outbox_code(phone: str) -> str | None:
    """The newest SMS code for ``phone`` from the local development outbox."""
    import re

    from server import create_app
    from server.extensions import db
    from server.security.sms import outbox_messages

    app = create_app({"SSC_LOG_LEVEL": "WARNING"})
    with app.app_context():
        messages = outbox_messages(db.session, phone, 1)
        db.session.remove()
    if not messages:
        return None
    match = re.search(r"\b(\d{6})\b", messages[0].message)
    return match.group(1) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--server", default="http://127.0.0.1:5000")
    parser.add_argument("--phone", default=DEMO_PHONE)
    parser.add_argument("--id-number", default=DEMO_ID)
    parser.add_argument("--name", default=DEMO_NAME)
    parser.add_argument("--code", help="the SMS code, if not read from the local outbox")
    parser.add_argument("--scene", default="transit")
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)

    phone = PhoneClient(args.server)
    try:
        phone.request_sms_code(args.phone)
        code = args.code or outbox_code(args.phone)
        if code is None:
            print("短信验证码 SMS code: ", end="", flush=True)
            code = sys.stdin.readline().strip()
        phone.sign_in(args.phone, code, id_number=args.id_number, name=args.name)
        phone.sign_ecard(app_id="ssc-demo", device_label="演示手机 demo phone")
    except ApiError as exc:
        print(f"失败 failed: {exc.status} {exc.code}", file=sys.stderr)
        return 1
    print(f"已签发电子社保卡 e-card signed · 卡号 card {phone.state.card_serial}")
    while True:
        text = phone.presentation(args.scene)
        print(ascii_qr(text))
        shown = phone.now().astimezone(SHANGHAI)
        print(f"{shown:%H:%M:%S}  场景 scene {args.scene}  ({len(text)} chars)")
        print(f"数字码 number code: {phone.fallback_code()}  卡号 card {phone.state.card_serial}")
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
