"""The kiosk's configuration file (``instance/kiosk/terminal.json``, written by ``flask seed demo``
or by staff when they register the kiosk as a terminal)::

    {"server": "http://127.0.0.1:5000", "terminal_id": "GZ-KIOSK-01", "secret": "…",
     "entrance": "GDMUSEUM-MAIN", "city": "440100"}

The kiosk keeps its own small state (the emulated cards' counters) in ``data_dir``, the directory
of this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REQUIRED = ("terminal_id", "secret", "entrance", "city")


class ConfigError(Exception):
    """The configuration file is missing or incomplete; the message says what to fix."""


@dataclass(frozen=True)
class KioskConfig:
    server: str
    terminal_id: str
    secret: str = ""
    entrance: str = ""
    city: str = "440100"
    data_dir: Path = Path(".")
    bank_code: str = "icbc"
    entrance_zh: str = ""
    entrance_en: str = ""

    def entrance_name(self, lang: str) -> str:
        name = self.entrance_en if lang == "en" else self.entrance_zh
        return name or self.entrance

    def __repr__(self) -> str:  # never print the secret
        return f"KioskConfig(server={self.server!r}, terminal_id={self.terminal_id!r})"


def load_config(path: str | Path, server: str | None = None) -> KioskConfig:
    """Read the terminal file; ``server`` (the ``--server`` option) overrides the file's."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            f"kiosk configuration {path} not found: run `flask --app server seed demo` "
            "or register the kiosk as a terminal and write the file"
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"kiosk configuration {path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"kiosk configuration {path} must be a JSON object")
    missing = [k for k in REQUIRED if not data.get(k)]
    base = server or data.get("server")
    if not base:
        missing.insert(0, "server")
    if missing:
        raise ConfigError(f"kiosk configuration {path} lacks: {', '.join(missing)}")
    return KioskConfig(
        server=str(base).rstrip("/"),
        terminal_id=str(data["terminal_id"]),
        secret=str(data["secret"]),
        entrance=str(data["entrance"]),
        city=str(data["city"]),
        data_dir=path.resolve().parent,
        bank_code=str(data.get("bank_code") or "icbc"),
        entrance_zh=str(data.get("entrance_name_zh") or ""),
        entrance_en=str(data.get("entrance_name_en") or ""),
    )
