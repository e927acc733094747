"""Running the real kiosk UI in tests: Kivy offscreen (real GL through Mesa), the app built into
the one window, touches through Kivy's ``UnitTestTouch``, the clock driven frame by frame.

Importing this module configures Kivy (before ``kivy.core.window`` loads)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from kiosk_app import kivy_setup

kivy_setup.prepare(kivy_home=tempfile.mkdtemp(prefix="kiosk-kivy-"), offscreen=True)

from kivy.base import EventLoop  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.metrics import Metrics  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402
from kivy.uix.behaviors import ButtonBehavior  # noqa: E402
from kivy.uix.label import Label  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402

from kiosk_app.app import KioskApp  # noqa: E402
from kiosk_app.devices import SilentSpeaker  # noqa: E402


class FakeClock:
    """The idle controller's clock: tests move it on instead of waiting."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Kiosk:
    """The app on screen, with helpers to tap, wait and look."""

    def __init__(self, app: KioskApp, clock: FakeClock) -> None:
        self.app = app
        self.clock = clock
        self.root = app.build()
        Window.add_widget(self.root)
        app.start_clocks()
        self.frames(2)

    def close(self) -> None:
        self.app.dispatch("on_stop")  # as when the app ends: clocks off, staff signed out
        Window.remove_widget(self.root)
        self.frames(1)

    # --- time -------------------------------------------------------------------------------

    def frames(self, n: int = 1) -> None:
        for _ in range(n):
            EventLoop.idle()

    def wait(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out on {self.app.current}: {self.visible_text()!r}")
            EventLoop.idle()
            time.sleep(0.002)
        self.frames(1)

    def steady(self, max_frames: int = 20) -> None:
        """Draw frames until the layout stops moving (a wrapped text grows its label, which
        moves its siblings on the next frame, …)."""
        self.frames(1)
        before = layout_of(self.root)
        for _ in range(max_frames):
            self.frames(1)
            now = layout_of(self.root)
            if now == before:
                return
            before = now
        raise AssertionError(f"the layout of {self.app.current} does not come to rest")

    def settle(self) -> None:
        """Wait until no server call or card exchange is out, then draw."""
        self.wait(lambda: getattr(self.app.runner, "pending", 0) == 0)

    def advance(self, seconds: float) -> None:
        self.clock.t += seconds
        self.app.idle.tick(self.clock())
        self.frames(2)

    # --- looking ------------------------------------------------------------------------------

    def widgets(self) -> Iterator[Widget]:
        yield from visible_widgets(self.root)

    def visible_text(self) -> str:
        return " | ".join(w.text for w in self.widgets() if isinstance(w, Label) and w.text)

    def button(self, text: str) -> Widget:
        matches = [w for w in self.widgets() if isinstance(w, ButtonBehavior) and w.text == text]
        assert matches, f"no button {text!r} on {self.app.current}: {self.visible_text()!r}"
        return matches[0]

    # --- touching -------------------------------------------------------------------------------

    def tap(self, target: Widget | str, layout: bool = True) -> None:
        if layout:
            self.frames(1)  # lay out what the last tap changed before aiming at it
        widget = self.button(target) if isinstance(target, str) else target
        assert not widget.disabled, f"{getattr(widget, 'text', widget)!r} is disabled"
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()  # dispatched at once: the handlers run now, the next frame draws
        touch.touch_up()

    def keys(self, keys: str) -> None:
        self.frames(1)
        pad = next(w for w in self.widgets() if type(w).__name__ == "PinPad")
        for key in keys:
            label = {"d": self.app.tr("common.delete")}.get(key, key)
            button = next(
                w for w in visible_widgets(pad) if isinstance(w, ButtonBehavior) and w.text == label
            )
            self.tap(button, layout=False)  # the keypad does not move

    def type_into(self, widget_id: str, text: str) -> None:
        field = find_id(self.app.screens[self.app.current], widget_id)
        field.text = text
        self.frames(1)


def visible_widgets(root: Widget) -> Iterator[Widget]:
    """The widgets that can be seen: opacity 0 hides a widget and all it holds."""
    if root.opacity == 0:
        return
    yield root
    for child in root.children:
        yield from visible_widgets(child)


def layout_of(root: Widget) -> list[tuple[int, tuple[float, ...], tuple[float, ...]]]:
    return [(id(w), tuple(w.pos), tuple(w.size)) for w in root.walk()]


def find_id(screen: Any, widget_id: str) -> Widget:
    for widget in screen.walk():
        ids = getattr(widget, "ids", {})
        if widget_id in ids:
            return ids[widget_id]
    raise AssertionError(f"no widget with id {widget_id!r}")


def font_sp(label: Label) -> float:
    return label.font_size / Metrics.sp


def size_dp(widget: Widget) -> tuple[float, float]:
    return widget.width / Metrics.dp, widget.height / Metrics.dp


def open_kiosk(config, api, reader, **kwargs: Any) -> Kiosk:
    clock = FakeClock()
    app = KioskApp(config, api, reader, speaker=SilentSpeaker(), now=clock, **kwargs)
    return Kiosk(app, clock)
