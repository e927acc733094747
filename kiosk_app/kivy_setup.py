"""Configure Kivy before it is imported: no command-line parsing, window size, input, the CJK
font and its line-breaking rules. ``prepare()`` must run before ``kivy.core.window`` (and so
:mod:`kiosk_app.app`) loads."""

from __future__ import annotations

import os
from pathlib import Path

from kiosk_app.theme import find_cjk_font

LANDSCAPE = (1920, 1080)


def prepare(
    *,
    portrait: bool = False,
    fullscreen: bool = False,
    kivy_home: str | os.PathLike[str] | None = None,
    offscreen: bool = False,
    size: tuple[int, int] | None = None,
    onscreen_keyboard: bool = False,
) -> str:
    """Set Kivy's environment and configuration; register the CJK font. Returns the font path.

    Raises :class:`kiosk_app.theme.FontMissing` (with what to install) when no font is found."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    if offscreen:  # tests, screenshots, benchmarks: the log goes to KIVY_HOME/logs only
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    if kivy_home is not None:
        Path(kivy_home).mkdir(parents=True, exist_ok=True)
        os.environ["KIVY_HOME"] = str(kivy_home)
    if offscreen:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
    font = find_cjk_font()

    from kivy.config import Config

    width, height = size or (LANDSCAPE[::-1] if portrait else LANDSCAPE)
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "0" if fullscreen else "1")
    Config.set("kivy", "exit_on_escape", "0")
    # Staff fields (password, TOTP, ID number) take a hardware keyboard and the system input
    # method; a touch-only kiosk docks Kivy's on-screen keyboard instead.
    Config.set("kivy", "keyboard_mode", "dock" if onscreen_keyboard else "system")
    Config.set("kivy", "log_level", os.environ.get("KIOSK_LOG_LEVEL", "warning"))
    # One finger, one tap: no right-click "multitouch" dots on a mouse.
    Config.set("input", "mouse", "mouse,disable_multitouch")

    from kivy.core.text import DEFAULT_FONT, LabelBase

    LabelBase.register(DEFAULT_FONT, font)
    from kiosk_app import textlayout

    textlayout.install()  # Chinese line-breaking rules in every label
    return font
