"""The kiosk's Kivy application.

As in Kivy's Showcase example, the :class:`KioskApp` holds the state the whole UI binds to as
Kivy properties (language, text size, read-aloud, orientation, font sizes in pixels) and the
navigation (:meth:`KioskApp.show`, :meth:`KioskApp.go_home`); each screen is its own ``.py`` +
``.kv`` under ``screens/``, loaded when first shown. The logic of every flow lives in the
plain-Python controllers (``controllers/``); screens only render their state and forward taps.

Call :func:`kiosk_app.kivy_setup.prepare` before this module is imported (it configures Kivy).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.metrics import dp, sp
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    NumericProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager

from kiosk_app import texts, theme, widgets  # noqa: F401  (registers the kv widget classes)
from kiosk_app.config import KioskConfig
from kiosk_app.controllers.activation import ActivationController
from kiosk_app.controllers.base import Notice
from kiosk_app.controllers.card import CardSession
from kiosk_app.controllers.entry import EntryController
from kiosk_app.controllers.help import HelpController
from kiosk_app.controllers.home import HomeController
from kiosk_app.controllers.idle import IdleController
from kiosk_app.controllers.staff import StaffController

HERE = Path(__file__).resolve().parent

# name → (module under kiosk_app.screens, class). Each module has a .kv of the same name.
SCREENS: dict[str, tuple[str, str]] = {
    "home": ("home", "HomeScreen"),
    "entry": ("entry", "EntryScreen"),
    "activation": ("activation", "ActivationScreen"),
    "help": ("call_staff", "CallStaffScreen"),
    "staff_signin": ("staff_signin", "StaffSignInScreen"),
    "staff_menu": ("staff_menu", "StaffMenuScreen"),
    "staff_issue": ("staff_issue", "StaffIssueScreen"),
    "staff_lost": ("staff_loss_replace", "StaffLossReplaceScreen"),
    "staff_doorstep": ("staff_doorstep", "StaffDoorstepScreen"),
}
# Screens whose .kv uses rules of another screen's .kv.
KV_DEPENDS = {"staff_lost": ("staff_issue",)}
# Which controller each screen renders.
SCREEN_CONTROLLER = {
    "home": None,
    "entry": "entry",
    "activation": "activation",
    "help": "help",
    "staff_signin": "staff",
    "staff_menu": "staff",
    "staff_issue": "staff",
    "staff_lost": "staff",
    "staff_doorstep": "staff",
}
READER_POLL_S = 0.15
IDLE_TICK_S = 0.5


class ThreadRunner:
    """Runs slow work (server calls, card exchanges) on one worker thread, one job at a time, and
    hands the result back on the UI thread through the Kivy clock."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiosk-work")
        self.pending = 0
        self.closed = False

    def submit(self, work: Callable[[], Any], done: Callable[[Any, BaseException | None], None]):
        if self.closed:  # the app is stopping: late timers start nothing
            return
        self.pending += 1

        def job() -> None:
            try:
                result, error = work(), None
            except Exception as exc:
                result, error = None, exc
            Clock.schedule_once(lambda _dt: self._finish(done, result, error), 0)

        self._pool.submit(job)

    def _finish(self, done, result, error) -> None:
        self.pending -= 1
        done(result, error)

    def shutdown(self) -> None:
        self.closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


class KioskApp(App):
    lang = OptionProperty("zh", options=texts.LANGS)
    text_size = OptionProperty("large", options=theme.SIZE_NAMES)
    portrait = BooleanProperty(False)
    read_aloud = BooleanProperty(False)
    demo = BooleanProperty(False)
    instruction = StringProperty("")  # the current screen's one-sentence "what to do next"
    current = StringProperty("")
    # pixel sizes derived from text_size (kv binds to these)
    fs_note = NumericProperty(0)
    fs_body = NumericProperty(0)
    fs_button = NumericProperty(0)
    fs_title = NumericProperty(0)
    fs_keypad = NumericProperty(0)
    fs_huge = NumericProperty(0)
    button_h = NumericProperty(0)
    key_h = NumericProperty(0)
    idle_warning = BooleanProperty(False)
    idle_seconds = NumericProperty(0)
    entrance_names = DictProperty({})

    def __init__(
        self,
        kiosk_config: KioskConfig,
        api: Any,
        reader: Any,
        *,
        demo_store: Any = None,
        speaker: Any = None,
        lang: str = "zh",
        text_size: str = "large",
        portrait: bool = False,
        runner: Any = None,
        now: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kiosk_config = kiosk_config
        self.api = api
        self.reader = reader
        self.card = CardSession(reader)
        self.demo_store = demo_store
        self.demo = demo_store is not None
        self.speaker = speaker
        self.runner = runner or ThreadRunner()
        self.now = now
        self.portrait = portrait
        self.lang = lang
        self.text_size = text_size
        self.title = texts.tr("app.title", lang)
        self._apply_sizes()
        self.controllers: dict[str, Any] = {
            "entry": EntryController(api, self.card, kiosk_config.entrance, self.runner),
            "activation": ActivationController(api, self.card, self.runner),
            "help": HelpController(api, self.runner),
            "staff": StaffController(
                api, self.card, kiosk_config.city, kiosk_config.bank_code, self.runner
            ),
        }
        self.home = HomeController(self.controllers)
        self.idle = IdleController(self._idle_timeout)
        self.idle.subscribe(self._idle_changed)
        self.screens: dict[str, Any] = {}
        self.drawn_at: float | None = None  # first frame with Home on it (benchmark)
        self.exit_when_drawn = False
        self._events: list[Any] = []

    # --- look ---------------------------------------------------------------------------------

    def on_text_size(self, *_args: Any) -> None:
        self._apply_sizes()

    def on_portrait(self, *_args: Any) -> None:
        self._apply_sizes()

    def on_lang(self, *_args: Any) -> None:
        self.title = texts.tr("app.title", self.lang)
        self.api.lang = self.lang
        self._speak()

    def _apply_sizes(self) -> None:
        sizes = theme.FONT_SP[self.text_size]
        for role, value in sizes.items():
            setattr(self, f"fs_{role}", sp(value))
        self.button_h = dp(theme.BUTTON_DP[self.text_size])
        keys = theme.KEY_DP_PORTRAIT if self.portrait else theme.KEY_DP
        self.key_h = dp(keys[self.text_size])

    def tr(self, key: str, _lang: str | None = None, **values: Any) -> str:
        """``app.tr('home.tap', app.lang)`` in kv: passing ``app.lang`` makes kv re-bind."""
        return texts.tr(key, self.lang, **values)

    def explain(self, notice: Notice | None, _lang: str | None = None) -> tuple[str, str]:
        if notice is None:
            return "", ""
        return texts.explain(notice.code, notice.extra, self.lang)

    @staticmethod
    def colour(name: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
        return theme.rgba(name, alpha)

    def toggle_lang(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"

    def toggle_size(self) -> None:
        self.text_size = "xlarge" if self.text_size == "large" else "large"

    def toggle_read_aloud(self) -> None:
        self.read_aloud = not self.read_aloud
        if not self.read_aloud and self.speaker is not None:
            self.speaker.stop()
        self._speak()

    # --- build and navigation ------------------------------------------------------------------

    def build(self) -> FloatLayout:
        for path in (HERE / "widgets.kv", HERE / "overlays.kv"):
            if str(path) not in Builder.files:
                Builder.load_file(str(path))
        from kiosk_app.overlays import DemoPanel, IdleOverlay

        Window.clearcolor = theme.rgba("bg")
        root = FloatLayout()
        body = BoxLayout(orientation="vertical" if self.portrait else "horizontal")
        self.manager = ScreenManager(transition=NoTransition())
        body.add_widget(self.manager)
        if self.demo_store is not None:
            self.demo_panel = DemoPanel(store=self.demo_store, reader=self.reader)
            body.add_widget(self.demo_panel)
        root.add_widget(body)
        self.idle_overlay = IdleOverlay()
        self.root_widget = root
        self.show("home")
        return root

    def on_start(self) -> None:
        self.start_clocks()

    def start_clocks(self) -> None:
        """The reader poll, the idle tick and input tracking (tests call this without run())."""
        self._events = [
            Clock.schedule_interval(self.poll_reader, READER_POLL_S),
            Clock.schedule_interval(lambda _dt: self.idle.tick(self.now()), IDLE_TICK_S),
        ]
        Window.bind(on_touch_down=self._any_input, on_key_down=self._any_input)
        Window.bind(on_flip=self._first_flip)

    def stop_clocks(self) -> None:
        for event in self._events:
            event.cancel()
        self._events = []
        Window.unbind(on_touch_down=self._any_input, on_key_down=self._any_input)
        Window.unbind(on_flip=self._first_flip)

    def on_stop(self) -> None:
        self.stop_clocks()
        staff = self.controllers["staff"]
        if staff.signed_in:
            self.api.staff_sign_out()
        if isinstance(self.runner, ThreadRunner):
            self.runner.shutdown()
        if self.speaker is not None:
            self.speaker.stop()

    def _first_flip(self, *_args: Any) -> None:
        if self.drawn_at is None and self.current == "home":
            self.drawn_at = time.perf_counter()
            if self.exit_when_drawn:
                print("kiosk: home drawn", flush=True)
                Clock.schedule_once(lambda _dt: self.stop(), 0)

    def screen(self, name: str) -> Any:
        """The screen called ``name``, built (and its .kv loaded) on first use."""
        if name not in self.screens:
            module_name, class_name = SCREENS[name]
            for dependency in KV_DEPENDS.get(name, ()):
                self._load_kv(SCREENS[dependency][0])
            self._load_kv(module_name)
            module = importlib.import_module(f"kiosk_app.screens.{module_name}")
            controller_name = SCREEN_CONTROLLER[name]
            controller = self.controllers[controller_name] if controller_name else self.home
            screen = getattr(module, class_name)(name=name, controller=controller)
            self.screens[name] = screen
            self.manager.add_widget(screen)
        return self.screens[name]

    def _load_kv(self, module_name: str) -> None:
        path = str(HERE / "screens" / f"{module_name}.kv")
        if path not in Builder.files:
            Builder.load_file(path)

    def show(self, name: str) -> None:
        screen = self.screen(name)
        screen.refresh()
        self.manager.current = name
        self.current = name
        self.idle.set_enabled(name != "home", self.now())
        self._speak()

    def choose(self, choice: str) -> None:
        """A Home button."""
        self.show(self.home.choose(choice))

    def call_staff(self, topic: str = "other") -> None:
        """The "call staff" button of a message: raise the help request at once."""
        help_controller = self.controllers["help"]
        help_controller.start(topic)
        self.show("help")
        help_controller.call()

    def go_home(self) -> None:
        """Back to the start: every flow forgets what it held; a staff session ends."""
        self.home.clear()
        for screen in self.screens.values():
            screen.clear_view()
        self.show("home")

    def say(self, text: str) -> None:
        """A screen's current instruction (shown on the screen; read aloud when switched on)."""
        if text != self.instruction:
            self.instruction = text
            self._speak()

    def _speak(self) -> None:
        if self.read_aloud and self.speaker is not None and self.instruction:
            self.speaker.say(self.instruction, self.lang)

    # --- the reader and the idle timer ------------------------------------------------------------

    def poll_reader(self, _dt: float = 0) -> None:
        """Tell the shown flow whether a card lies on the reader (every 0.15 s)."""
        controller_name = SCREEN_CONTROLLER.get(self.current)
        if controller_name not in ("entry", "activation"):
            return
        present = self.card.present()
        self.controllers[controller_name].card_presence(present)
        if hasattr(self, "demo_panel"):
            self.demo_panel.refresh()

    def _any_input(self, *_args: Any) -> bool:
        self.idle.activity(self.now())
        return False  # let the touch reach the widgets

    def keep_using(self) -> None:
        self.idle.activity(self.now())

    def _idle_changed(self) -> None:
        self.idle_warning = self.idle.warning
        self.idle_seconds = self.idle.seconds_left
        overlay = self.idle_overlay
        if self.idle.warning and overlay.parent is None:
            self.root_widget.add_widget(overlay)
        elif not self.idle.warning and overlay.parent is not None:
            overlay.parent.remove_widget(overlay)

    def _idle_timeout(self) -> None:
        # Everything personal is forgotten. An open, unclaimed help request is NOT cancelled:
        # the person may have stepped away, and staff may still come (HelpController.clear).
        self.go_home()
