"""``flask kiosk purge`` forgets card challenges expired more than a day ago, and only those."""

from __future__ import annotations

from datetime import timedelta

from server.clock import utcnow
from server.extensions import db
from server.kiosk.models import CardChallenge
from tests.kiosk.conftest import count


def _challenge(terminal_id: int, n: int, expires_ago: timedelta) -> CardChallenge:
    now = utcnow()
    return CardChallenge(
        handle_hash=bytes([n]) * 32,
        terminal_id=terminal_id,
        challenge=bytes(8),
        created_at=now - expires_ago - timedelta(seconds=60),
        expires_at=now - expires_ago,
    )


def test_purge_forgets_only_long_expired_challenges(app, runner, kiosk):
    with app.app_context():
        db.session.add_all(
            [
                _challenge(kiosk.id, 1, timedelta(days=1, minutes=5)),
                _challenge(kiosk.id, 2, timedelta(hours=2)),
                _challenge(kiosk.id, 3, timedelta(seconds=-30)),  # still valid
            ]
        )
        db.session.commit()
        db.session.remove()
    result = runner.invoke(args=["kiosk", "purge"])
    assert result.exit_code == 0, result.output
    assert '"purged_challenges": 1' in result.output
    assert count(app, CardChallenge) == 2
