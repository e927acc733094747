"""``python -m kiosk_app --server URL --config instance/kiosk/terminal.json
[--demo-cards instance/kiosk/demo_cards.json] [--lang zh|en] [--size large|xlarge] [--portrait]``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk_app", description="社保卡一卡通 自助服务一体机 SSC One Card kiosk"
    )
    parser.add_argument("--server", help="server base URL (default: the config file's)")
    parser.add_argument("--config", default="instance/kiosk/terminal.json")
    parser.add_argument("--demo-cards", help="demo_cards.json: emulated reader with a side panel")
    parser.add_argument("--reader", default=None, help="PC/SC reader name (real hardware)")
    parser.add_argument("--lang", choices=("zh", "en"), default="zh")
    parser.add_argument("--size", choices=("large", "xlarge"), default="large")
    parser.add_argument("--portrait", action="store_true")
    parser.add_argument("--fullscreen", action="store_true")
    parser.add_argument("--read-aloud", action="store_true", help="start with read-aloud on")
    parser.add_argument(
        "--onscreen-keyboard",
        action="store_true",
        help="dock Kivy's on-screen keyboard for staff fields (a touch screen without a keyboard;"
        " Chinese names still need the system input method)",
    )
    parser.add_argument(
        "--exit-when-drawn", action="store_true", help=argparse.SUPPRESS
    )  # bench/kiosk.py: print a line when Home is first drawn, then quit
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from kiosk_app.config import ConfigError, load_config
    from kiosk_app.theme import FontMissing

    try:
        config = load_config(args.config, args.server)
    except ConfigError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 2
    from kiosk_app import kivy_setup

    try:
        kivy_setup.prepare(
            portrait=args.portrait,
            fullscreen=args.fullscreen,
            onscreen_keyboard=args.onscreen_keyboard,
        )
    except FontMissing as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return 2

    from kiosk_app.api_client import KioskApi
    from kiosk_app.app import KioskApp
    from kiosk_app.devices import DemoCardStore, EmulatedReader, default_speaker

    api = KioskApi(config.server, config.terminal_id, config.secret, lang=args.lang)
    store = None
    if args.demo_cards:
        reader = EmulatedReader()
        store = DemoCardStore.load(args.demo_cards, config.data_dir / "demo_card_state.json")
    else:
        from kiosk_app.devices.pcsc import PcscReader

        reader = PcscReader(args.reader) if args.reader else PcscReader()
    app = KioskApp(
        config,
        api,
        reader,
        demo_store=store,
        speaker=default_speaker(True),
        lang=args.lang,
        text_size=args.size,
        portrait=args.portrait,
    )
    app.read_aloud = args.read_aloud
    app.exit_when_drawn = args.exit_when_drawn
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
