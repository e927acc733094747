"""The demo kiosk for ``flask seed demo``: a kiosk terminal at the Guangdong Museum's main entrance,
the museum and library entrances, and the kiosk's files (written only when seeding):

- ``terminal.json``: server URL, terminal code and HMAC secret, entrance (code and names), city;
- ``demo_cards.json``: every demo card with a serial, with its diversified chip key (so the
  kiosk's emulated reader can answer challenges as the real card would), and five blank cards
  (K00000001…K00000005) for on-site issuance.

Both are mode 0600 in ``SSC_KIOSK_DIR`` (default ``<instance>/kiosk``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.entrances import service as entrances
from server.registry import chip
from server.registry.models import Card, Person
from server.registry.rules import CARD_STATE_NAMES, CardState
from server.security.rules import Actor
from server.terminals.service import register_terminal

KIOSK_CODE = "GZ-KIOSK-01"
KIOSK_CITY = "440100"
DEFAULT_SERVER = "http://127.0.0.1:5000"
BLANK_STOCK = tuple(f"K{n:08d}" for n in range(1, 6))

ALL_DAY = "00:00-24:00"
# (code, kind, zh, en, weekly hours). The museum's demo hours are all day, so the demo works at
# any time; the library keeps real-looking hours (closed on Mondays).
ENTRANCES = (
    (
        "GDMUSEUM-MAIN",
        "museum",
        "广东省博物馆 主入口",
        "Guangdong Museum, main entrance",
        dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), ALL_DAY),
    ),
    (
        "GZLIB-MAIN",
        "library",
        "广州图书馆",
        "Guangzhou Library",
        {d: "09:00-21:00" for d in ("tue", "wed", "thu", "fri", "sat", "sun")},
    ),
)


def kiosk_dir() -> Path:
    configured = current_app.config.get("SSC_KIOSK_DIR")
    return Path(configured or os.path.join(current_app.instance_path, "kiosk"))


def _write_private(path: Path, document: dict) -> None:
    data = json.dumps(document, ensure_ascii=False, indent=2).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)  # an older file may have had looser permissions


def demo_cards_document(session: Session, master: bytes) -> dict:
    """Every card with a serial (with its holder's name and state) and the blank stock."""
    rows = session.execute(
        select(Card.serial, Card.state, Person.name)
        .join(Person, Person.id == Card.person_id)
        .where(Card.serial.is_not(None))
        .order_by(Card.serial)
    ).all()
    cards = []
    for serial, state, name in rows:
        zh, en = CARD_STATE_NAMES[CardState(state)]
        cards.append(
            {
                "serial": serial,
                "label_zh": f"{name}（{zh}）",
                "label_en": f"{name} ({en})",
                "key": chip.diversify(master, serial).hex(),
                "story": state,
            }
        )
    blanks = [{"serial": s, "key": chip.diversify(master, s).hex()} for s in BLANK_STOCK]
    return {"version": 1, "cards": cards, "blank_stock": blanks}


def seed_kiosk_demo(session: Session, admin: Actor, now: datetime) -> dict:
    """Register the kiosk and the entrances (as the Guangzhou city administrator ``admin``) and
    write the kiosk's files. Returns what ``flask seed demo`` prints."""
    terminal, secret = register_terminal(
        session,
        None,
        code=KIOSK_CODE,
        kind="kiosk",
        city_code=KIOSK_CITY,
        owner="广州市人力资源和社会保障局 Guangzhou HRSS",
        location="广东省博物馆 主入口 Guangdong Museum, main entrance",
        now=now,
    )
    for code, kind, name_zh, name_en, weekly in ENTRANCES:
        entrance = entrances.create_entrance(
            session,
            admin,
            code=code,
            kind=kind,
            name_zh=name_zh,
            name_en=name_en,
            city_code=KIOSK_CITY,
            opening_hours={"weekly": weekly, "closed_dates": []},
            now=now,
        )
        entrances.attach_terminal(session, admin, entrance.id, KIOSK_CODE, now)

    directory = kiosk_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    terminal_file = directory / "terminal.json"
    cards_file = directory / "demo_cards.json"
    _write_private(
        terminal_file,
        {
            "server": DEFAULT_SERVER,
            "terminal_id": terminal.code,
            "secret": secret,
            "entrance": ENTRANCES[0][0],
            "entrance_name_zh": ENTRANCES[0][2],
            "entrance_name_en": ENTRANCES[0][3],
            "city": KIOSK_CITY,
        },
    )
    master = current_app.extensions["ssc.keyring"].card_master
    _write_private(cards_file, demo_cards_document(session, master))
    return {
        "terminal": terminal.code,
        "entrances": [e[0] for e in ENTRANCES],
        "files": [str(terminal_file), str(cards_file)],
    }
