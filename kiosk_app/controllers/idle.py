"""Privacy idle: 45 s without input shows a warning with a countdown; at 60 s the kiosk goes home
and every controller forgets the personal data it held. The clock is passed in (``now`` seconds),
so tests drive it without waiting."""

from __future__ import annotations

from collections.abc import Callable

WARN_AFTER_S = 45.0
TIMEOUT_S = 60.0


class IdleController:
    def __init__(
        self,
        on_timeout: Callable[[], None],
        warn_after_s: float = WARN_AFTER_S,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.on_timeout = on_timeout
        self.warn_after_s = warn_after_s
        self.timeout_s = timeout_s
        self.enabled = False  # on when a screen other than Home is shown
        self.warning = False
        self.seconds_left = int(timeout_s)
        self._last_input = 0.0
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def activity(self, now: float) -> None:
        """Any touch or key: the countdown starts again, the warning goes away."""
        self._last_input = now
        if self.warning:
            self.warning = False
            self._changed()

    def set_enabled(self, enabled: bool, now: float) -> None:
        self.enabled = enabled
        self.activity(now)

    def tick(self, now: float) -> None:
        if not self.enabled:
            return
        idle = now - self._last_input
        if idle >= self.timeout_s:
            self.warning = False
            self.enabled = False
            self._changed()
            self.on_timeout()
            return
        left = max(1, int(self.timeout_s - idle + 0.999))
        warning = idle >= self.warn_after_s
        if warning != self.warning or (warning and left != self.seconds_left):
            self.warning = warning
            self.seconds_left = left
            self._changed()
