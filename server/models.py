"""Imports every domain's models so SQLAlchemy metadata and Alembic see the whole schema."""

from server.credentials import models as credential_models  # noqa: F401
from server.doorstep import models as doorstep_models  # noqa: F401
from server.entrances import models as entrance_models  # noqa: F401
from server.kiosk import models as kiosk_models  # noqa: F401
from server.ledger import models as ledger_models  # noqa: F401
from server.registry import models as registry_models  # noqa: F401
from server.security import models as security_models  # noqa: F401
from server.terminals import models as terminal_models  # noqa: F401
from server.transit import models as transit_models  # noqa: F401
