"""Read-aloud of the screen's instruction: espeak-ng where it is installed, silence otherwise.

A speaker never raises into the UI and never blocks it: :class:`EspeakSpeaker` starts espeak-ng as
a child process and returns at once; a new utterance (or :meth:`stop`) ends the previous one.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

VOICES = {"zh": "cmn", "en": "en"}
DEFAULT_RATE = 140  # words per minute; espeak-ng's default of 175 is fast for older listeners


class Speaker(Protocol):
    def say(self, text: str, lang: str) -> None:
        """Start reading ``text`` aloud in ``lang`` ("zh" or "en"); stop what was being read."""

    def stop(self) -> None:
        """Stop reading."""


def voice_for(lang: str) -> str:
    """The espeak-ng voice for a language tag: ``zh``, ``zh-CN`` … → ``cmn``; others ``en``."""
    return VOICES["zh"] if lang.lower().startswith("zh") else VOICES["en"]


class SilentSpeaker:
    """Says nothing; remembers the last request (screens' tests look at it)."""

    def __init__(self) -> None:
        self.last: tuple[str, str] | None = None

    def say(self, text: str, lang: str) -> None:
        self.last = (text, lang)

    def stop(self) -> None:
        self.last = None


class EspeakSpeaker:
    """espeak-ng in a child process; one utterance at a time."""

    def __init__(
        self,
        executable: str = "espeak-ng",
        *,
        rate: int = DEFAULT_RATE,
        popen: Callable[..., Any] = subprocess.Popen,
    ) -> None:
        self.executable = executable
        self.rate = rate
        self._popen = popen
        self._process: Any = None

    def command(self, text: str, lang: str) -> list[str]:
        """``espeak-ng -v <voice> -s <rate> -b 1 -- <text>`` (``-b 1``: the text is UTF-8)."""
        return [self.executable, "-v", voice_for(lang), "-s", str(self.rate), "-b", "1", "--", text]

    def say(self, text: str, lang: str) -> None:
        self.stop()
        text = " ".join(text.split())
        if not text:
            return
        try:
            self._process = self._popen(
                self.command(text, lang),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except Exception as exc:  # never into the UI: a kiosk without sound still works
            log.warning("espeak-ng could not start: %s", exc)
            self._process = None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=1)
        except Exception as exc:
            log.warning("espeak-ng could not be stopped: %s", exc)


def default_speaker(enabled: bool) -> Speaker:
    """espeak-ng when read-aloud is enabled and espeak-ng is installed, otherwise silence."""
    if not enabled:
        return SilentSpeaker()
    executable = shutil.which("espeak-ng")
    if executable is None:
        log.info("espeak-ng is not installed; instructions will not be read aloud")
        return SilentSpeaker()
    return EspeakSpeaker(executable)
