"""Screenshots of every kiosk screen and state, in both languages and both text sizes.

    python -m tools.kiosk_screenshots [--out docs/kiosk] [--only home,entry_allowed]

Drives the real kiosk app offscreen (``SDL_VIDEODRIVER=offscreen``) against a throw-away local
server: a temporary instance directory with its own keys and an SQLite database built from the
models, seeded with the demo data set (``flask seed demo``), served by werkzeug in a thread.
Files are named ``<state>_<lang>_<size>.png`` (``home_zh_large.png``); the main states are also
shot on a portrait screen (1080×1920, the app's portrait layout) in Chinese at both sizes, named
``<state>_zh_<size>_portrait.png``. Only PNGs and ``index.json`` are written: other files in the
directory (``card-apdus.md``) are left alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMBOS = [(lang, size) for size in ("large", "xlarge") for lang in ("zh", "en")]
LANDSCAPE = (1920, 1080)
PORTRAIT = (1080, 1920)
PORTRAIT_SIZES = ("large", "xlarge")


def save_opaque(widget: Any, path: Path) -> None:
    """Export ``widget`` as a PNG on the kiosk's background colour. Kivy renders a widget into a
    transparent framebuffer; on a dark page viewer that transparency would hide the dark text."""
    from PIL import Image

    from kiosk_app import theme

    widget.export_to_png(str(path))
    with Image.open(path) as image:
        rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, tuple(round(c * 255) for c in theme.rgba("bg")))
    Image.alpha_composite(background, rgba).convert("RGB").save(path, optimize=True)


class DemoServer:
    """The server on a temporary instance: the migrated schema, the demo data, a thread."""

    def __init__(self, workdir: Path) -> None:
        from flask_migrate import upgrade
        from werkzeug.serving import make_server

        from server import create_app
        from server.extensions import db
        from server.registry.demo import seed_demo

        url = f"sqlite:///{workdir / 'kiosk-demo.db'}"
        self.app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "SSC_KEYS_DIR": str(workdir / "keys"),
                "SSC_KIOSK_DIR": str(workdir / "kiosk"),
                "SSC_RATELIMIT_ENABLED": False,
            }
        )
        with self.app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
        with self.app.app_context():
            self.seed = seed_demo(db.session, datetime.now(UTC))
            db.session.remove()
        self.kiosk_dir = workdir / "kiosk"
        self.http = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def staff(self, username: str) -> dict[str, Any]:
        return next(s for s in self.seed["staff"] if s["username"] == username)

    def person(self, name: str) -> dict[str, Any]:
        return next(p for p in self.seed["people"] if p["name"] == name)

    def issued_card(self, n: int) -> tuple[str, str]:
        """A fresh elderly holder with an issued (not yet active) card: (serial, ID number)."""
        from server.extensions import db
        from server.registry import service
        from server.registry.demo import CARD_FACTORY, demo_bank_account
        from server.registry.rules import check_digit
        from server.security.models import StaffUser
        from server.security.service import staff_actor

        first17 = f"44010419{40 + n:02d}0308{n:03d}"
        id_number = first17 + check_digit(first17)
        serial = f"D{20000000 + n:08d}"
        now = datetime.now(UTC)
        with self.app.app_context():
            s = db.session
            user = s.query(StaffUser).filter_by(username="gz.branch").one()
            actor = staff_actor(user)
            person = service.register_person(
                s, actor, id_number=id_number, name="冯秀英", city_code="440100", now=now
            )
            card = service.apply_card(
                s, actor, person.id, generation=3, issuing_city="440100", bank_code="icbc", now=now
            )
            service.produce_card(
                s,
                CARD_FACTORY,
                card.id,
                serial=serial,
                bank_account_number=demo_bank_account(900 + n),
                now=now,
            )
            service.issue_card(s, actor, card.id, now)
            s.remove()
        return serial, id_number

    def card_key(self, serial: str) -> bytes:
        from server.registry.chip import diversify

        return diversify(self.app.extensions["ssc.keyring"].card_master, serial)

    def stop(self) -> None:
        self.http.shutdown()
        self.thread.join(timeout=10)


class Shooter:
    def __init__(self, demo: DemoServer, out: Path, only: set[str] | None) -> None:
        from kiosk_app import kivy_setup

        kivy_setup.prepare(kivy_home=demo.kiosk_dir / "kivy", offscreen=True)
        from kivy.core.window import Window

        from kiosk_app.api_client import KioskApi
        from kiosk_app.config import load_config
        from kiosk_app.devices import DemoCardStore, EmulatedCard, EmulatedReader

        self.demo = demo
        self.out = out
        self.only = only
        self.written: list[str] = []
        self.suffix = ""  # "_portrait" for the portrait pass
        self.EmulatedCard = EmulatedCard
        config = load_config(demo.kiosk_dir / "terminal.json", demo.url)
        config = type(config)(
            **{
                **config.__dict__,
                "entrance_zh": "广东省博物馆 主入口",
                "entrance_en": "Guangdong Museum, main entrance",
            }
        )
        self.config = config
        self.reader = EmulatedReader()
        self.store = DemoCardStore.load(
            demo.kiosk_dir / "demo_cards.json", demo.kiosk_dir / "demo_card_state.json"
        )
        self.api = KioskApi(config.server, config.terminal_id, config.secret)
        self.clock = [1000.0]
        Window.size = LANDSCAPE
        self.open_app(portrait=False)

    def open_app(self, portrait: bool) -> None:
        from kivy.core.window import Window

        from kiosk_app.app import KioskApp
        from kiosk_app.devices import SilentSpeaker

        self.app = KioskApp(
            self.config,
            self.api,
            self.reader,
            speaker=SilentSpeaker(),
            now=lambda: self.clock[0],
            portrait=portrait,
        )
        self.root = self.app.build()
        Window.add_widget(self.root)
        self.app.start_clocks()
        self.frames(3)

    def close_app(self) -> None:
        from kivy.core.window import Window

        self.app.dispatch("on_stop")  # clocks off, staff signed out
        Window.remove_widget(self.root)
        self.frames(1)

    # --- driving ------------------------------------------------------------------------------

    def frames(self, n: int = 2) -> None:
        from kivy.base import EventLoop

        for _ in range(n):
            EventLoop.idle()

    def settle(self) -> None:
        deadline = time.monotonic() + 20
        while self.app.runner.pending and time.monotonic() < deadline:
            self.frames(1)
            time.sleep(0.005)
        self.frames(2)
        # then until the layout rests (a wrapped text grows its label, which moves the next…)
        before = None
        for _ in range(20):
            now = [(id(w), tuple(w.pos), tuple(w.size)) for w in self.root.walk()]
            if now == before:
                break
            before = now
            self.frames(1)

    def place(self, serial: str, key: bytes | None = None) -> None:
        self.reader.remove()
        self.app.poll_reader()
        card = self.store.card(serial) if key is None else self.EmulatedCard(serial, key)
        self.reader.place(card)
        self.app.poll_reader()
        self.settle()

    def shot(self, state: str) -> None:
        if self.only and state not in self.only:
            return
        self.settle()
        name = f"{state}_{self.app.lang}_{self.app.text_size}{self.suffix}.png"
        save_opaque(self.root, self.out / name)
        self.written.append(name)

    def story_serial(self, story: str) -> str:
        return next(e.serial for e in self.store.entries if e.story == story)

    # --- the tour --------------------------------------------------------------------------------

    def cardholder_states(self, n: int) -> None:
        app = self.app
        app.go_home()
        self.shot("home")
        app.choose("tap")
        self.shot("entry_waiting")
        self.place(self.story_serial("active"))
        self.shot("entry_allowed")
        self.place(self.story_serial("sealed"))
        self.shot("entry_denied_sealed")
        self.place(self.story_serial("suspended"))
        self.shot("entry_denied_lost")
        self.api.base_url = "http://127.0.0.1:9"  # nothing listens: the server is "down"
        self.place(self.story_serial("active"))
        self.shot("server_unreachable")
        self.api.base_url = self.demo.url

        serial, id_number = self.demo.issued_card(n)
        self.reader.remove()
        app.go_home()
        app.choose("activate")
        self.shot("activation_tap")
        self.place(serial, self.demo.card_key(serial))
        activation = app.controllers["activation"]
        self.press(activation, id_number[-6:-2])
        self.shot("activation_identity")
        self.press(activation, "00")
        activation.confirm()
        self.shot("activation_identity_wrong")
        self.press(activation, id_number[-6:])
        activation.confirm()
        self.settle()
        self.press(activation, "2580")
        self.shot("activation_pin")
        self.press(activation, "36")
        activation.confirm()
        self.press(activation, "258")
        self.shot("activation_pin_confirm")
        activation.entry = ""
        activation.back()
        for _ in range(2):
            self.press(activation, "123456")
            activation.confirm()
            self.settle()
        self.shot("activation_pin_weak")
        for _ in range(2):
            self.press(activation, "258036")
            activation.confirm()
            self.settle()
        self.shot("activation_done")

        app.go_home()
        app.choose("help")
        self.shot("call_staff")
        app.controllers["help"].call()
        self.shot("call_staff_ticket")

        self.reader.remove()
        app.go_home()
        app.choose("activate")
        self.clock[0] += 50
        app.idle.tick(self.clock[0])
        self.shot("idle_warning")
        app.go_home()
        app.choose("staff")
        self.shot("staff_signin")
        app.go_home()

    @staticmethod
    def press(controller: Any, keys: str) -> None:
        for key in keys:
            controller.press(key)

    def staff_sign_in(self, again: bool = False) -> None:
        import pyotp

        account = self.demo.staff("gz.branch")
        self.app.go_home()
        self.app.choose("staff")
        staff = self.app.controllers["staff"]
        totp = pyotp.TOTP(account["totp_secret"])
        # a used code is refused: signing in again takes the next 30-second code (within the
        # server's one-step drift window)
        code = totp.at(time.time() + totp.interval) if again else totp.now()
        staff.sign_in("gz.branch", account["password"], code)
        self.settle()
        if not staff.signed_in:
            raise SystemExit(f"staff sign-in failed: {staff.notice}")

    def staff_states(self, n: int) -> None:
        from server.registry.rules import check_digit

        app = self.app
        staff = app.controllers["staff"]
        staff.menu()
        app.show("staff_menu")
        self.shot("staff_menu")

        first17 = f"44010619{30 + n:02d}1111{n:03d}"
        id_number = first17 + check_digit(first17)
        staff.begin("issue")
        app.show("staff_issue")
        self.shot("staff_issue_find")
        staff.find(id_number)
        self.settle()
        self.shot("staff_issue_not_found")
        staff.register(id_number, "周伯")
        self.settle()
        self.shot("staff_issue_person")
        staff.apply()
        self.settle()
        self.shot("staff_issue_blank")
        blank = f"K{n:08d}"
        self.reader.remove()
        self.reader.place(self.store.card(blank))
        staff.read_blank()
        self.settle()
        self.press(staff, "258")
        self.shot("staff_issue_pin")
        self.press(staff, "036")
        staff.confirm()
        self.press(staff, "258036")
        staff.confirm()
        self.settle()
        self.shot("staff_issue_done")
        staff.begin("issue")
        staff.find(id_number)
        self.settle()
        staff.apply()
        self.settle()
        self.shot("staff_issue_one_card")

        staff.begin("lost")
        app.show("staff_lost")
        self.shot("staff_lost_find")
        staff.find(self.demo.person("梁国华")["id_number"])
        self.settle()
        self.shot("staff_lost_person")

        staff.begin("doorstep")
        app.show("staff_doorstep")
        self.settle()
        self.shot("staff_doorstep")

    def portrait_states(self, n: int) -> None:
        """The cardholder's main states on a portrait screen: home, entry allowed and denied,
        activation (identity, PIN), the call-staff ticket."""
        app = self.app
        app.go_home()
        self.shot("home")
        app.choose("tap")
        self.place(self.story_serial("active"))
        self.shot("entry_allowed")
        self.place(self.story_serial("sealed"))
        self.shot("entry_denied_sealed")

        serial, id_number = self.demo.issued_card(n)
        self.reader.remove()
        app.go_home()
        app.choose("activate")
        self.place(serial, self.demo.card_key(serial))
        activation = app.controllers["activation"]
        self.press(activation, id_number[-6:-2])
        self.shot("activation_identity")
        self.press(activation, id_number[-2:])
        activation.confirm()
        self.settle()
        self.press(activation, "2580")
        self.shot("activation_pin")

        self.reader.remove()
        app.go_home()
        app.choose("help")
        app.controllers["help"].call()
        self.shot("call_staff_ticket")
        app.go_home()

    def portrait(self) -> None:
        from kivy.core.window import Window

        self.close_app()
        Window.size = PORTRAIT
        self.open_app(portrait=True)
        self.suffix = "_portrait"
        # the staff menu first, at both sizes: Home ends a staff session (and a second sign-in
        # needs a fresh one-time code)
        self.app.lang = "zh"
        self.staff_sign_in(again=True)
        for size in PORTRAIT_SIZES:
            self.app.text_size = size
            self.app.controllers["staff"].menu()
            self.app.show("staff_menu")
            self.shot("staff_menu")
        for n, size in enumerate(PORTRAIT_SIZES, start=len(COMBOS) + 1):
            self.app.text_size = size
            self.portrait_states(n)
        self.suffix = ""
        self.close_app()
        Window.size = LANDSCAPE
        self.open_app(portrait=False)

    def demo_panel(self) -> None:
        """The demo side panel beside Home (what `make kiosk` shows)."""
        from kivy.core.window import Window

        from kiosk_app.app import KioskApp
        from kiosk_app.devices import SilentSpeaker

        Window.remove_widget(self.root)
        self.app.dispatch("on_stop")
        app = KioskApp(
            self.config, self.api, self.reader, demo_store=self.store, speaker=SilentSpeaker()
        )
        root = app.build()
        Window.add_widget(root)
        self.frames(3)
        save_opaque(root, self.out / "demo_panel_zh_large.png")
        self.written.append("demo_panel_zh_large.png")
        Window.remove_widget(root)

    def run(self) -> None:
        for n, (lang, size) in enumerate(COMBOS, start=1):
            self.app.lang, self.app.text_size = lang, size
            self.cardholder_states(n)
        self.staff_sign_in()
        for n, (lang, size) in enumerate(COMBOS, start=1):
            self.app.lang, self.app.text_size = lang, size
            self.staff_states(n)
        self.portrait()
        self.app.lang, self.app.text_size = "zh", "large"
        self.demo_panel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "kiosk"))
    parser.add_argument("--only", help="comma-separated states (default: all)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    workdir = Path(tempfile.mkdtemp(prefix="kiosk-shots-"))
    demo = None
    try:
        print("seeding a throw-away demo server …", file=sys.stderr)
        demo = DemoServer(workdir)
        shooter = Shooter(demo, out, only)
        shooter.run()
        index = out / "index.json"
        names = set(shooter.written)
        if only and index.is_file():  # a partial run keeps the other shots listed
            names |= {n for n in json.loads(index.read_text()) if (out / n).is_file()}
        index.write_text(json.dumps(sorted(names), indent=1) + "\n")
        print(f"{len(shooter.written)} screenshots in {out}", file=sys.stderr)
    finally:
        if demo is not None:
            demo.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
