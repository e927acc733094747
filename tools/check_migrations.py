"""Drift check: do the migrations build exactly the schema the models describe?

    DATABASE_URL=postgresql://... python -m tools.check_migrations

The database must already be upgraded to head (``flask --app server db upgrade``). Compares the
models' metadata with the live schema through Alembic's autogenerate comparison, prints one JSON
object and exits 1 when the database is not at head or any difference is found, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Constraint, ForeignKeyConstraint, Index, Table
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class KnownHarmless:
    """A difference that is an artefact of reflection on one database, not drift."""

    op: str  # the Alembic diff op, e.g. "modify_default"
    dialect: str  # "postgresql", "sqlite" or "*"
    matches: Callable[[tuple], bool]
    why: str


# Keep this list short and give every entry a reason. Ignored differences are still printed
# (under "ignored"), never dropped silently. None are needed for the current schema.
KNOWN_HARMLESS: list[KnownHarmless] = []


def _name(obj: Any) -> str | None:
    return None if obj is None else str(obj)


def describe(obj: Any) -> Any:
    """A JSON-friendly description of one element of an Alembic diff tuple."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, Table):
        return {"table": obj.name, "columns": [c.name for c in obj.columns]}
    if isinstance(obj, Column):
        table = obj.table.name if obj.table is not None else None
        return {
            "column": f"{table}.{obj.name}" if table else obj.name,
            "type": repr(obj.type),
            "nullable": obj.nullable,
        }
    if isinstance(obj, Index):
        return {
            "index": _name(obj.name),
            "table": obj.table.name if obj.table is not None else None,
            "columns": [getattr(e, "name", None) or str(e) for e in obj.expressions],
            "unique": bool(obj.unique),
            "dialect_options": {
                f"{d}_{k}": str(v)
                for d, opts in obj.dialect_options.items()
                for k, v in opts.items()
                if v is not None
            },
        }
    if isinstance(obj, Constraint):
        out: dict[str, Any] = {
            "constraint": _name(obj.name),
            "kind": type(obj).__name__,
            "table": obj.table.name if getattr(obj, "table", None) is not None else None,
        }
        columns = getattr(obj, "columns", None)
        if columns is not None:
            out["columns"] = [c.name for c in columns]
        if isinstance(obj, ForeignKeyConstraint):
            out["references"] = [e.target_fullname for e in obj.elements]
        if getattr(obj, "sqltext", None) is not None:
            out["sqltext"] = str(obj.sqltext)
        return out
    if isinstance(obj, TypeEngine):
        return repr(obj)
    if isinstance(obj, dict):
        return {str(k): describe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [describe(v) for v in obj]
    if hasattr(obj, "arg"):  # DefaultClause / server defaults
        return str(getattr(obj.arg, "text", obj.arg))
    return repr(obj)


def describe_diff(diff: tuple) -> dict[str, Any]:
    op, *args = diff
    if op.startswith("modify_") and len(args) == 6:
        schema, table, column, existing, old, new = args
        return {
            "op": op,
            "table": table if schema is None else f"{schema}.{table}",
            "column": column,
            "database": describe(old),
            "models": describe(new),
            "existing": describe(existing),
        }
    return {"op": op, "args": [describe(a) for a in args]}


def flatten(diffs: list) -> list[tuple]:
    """compare_metadata groups the column changes of one column in a list; unpack them."""
    out: list[tuple] = []
    for diff in diffs:
        if isinstance(diff, list):
            out.extend(diff)
        else:
            out.append(diff)
    return out


def is_known_harmless(diff: tuple, dialect: str) -> KnownHarmless | None:
    for rule in KNOWN_HARMLESS:
        if rule.op == diff[0] and rule.dialect in ("*", dialect) and rule.matches(diff):
            return rule
    return None


def check(app, directory: str | None = None) -> dict[str, Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    migrate_ext = app.extensions["migrate"]
    db = migrate_ext.db
    with app.app_context():
        scripts = ScriptDirectory.from_config(migrate_ext.migrate.get_config(directory))
        heads = sorted(scripts.get_heads())
        with db.engine.connect() as connection:
            opts = dict(migrate_ext.configure_args)
            opts.setdefault("compare_type", True)
            opts.setdefault("compare_server_default", True)
            context = MigrationContext.configure(connection, opts=opts)
            current = sorted(context.get_current_heads())
            dialect = connection.dialect.name
            database = connection.engine.url.database
            diffs = flatten(compare_metadata(context, db.metadata))

    differences, ignored = [], []
    for diff in diffs:
        rule = is_known_harmless(diff, dialect)
        if rule is None:
            differences.append(describe_diff(diff))
        else:
            ignored.append({**describe_diff(diff), "why": rule.why})
    problems = []
    if current != heads:
        problems.append(
            f"database is at {current or 'base'}, migrations head is {heads or 'base'}: "
            "run `flask --app server db upgrade` first"
        )
    if not heads:
        problems.append("no migration revisions in migrations/versions")
    if differences:
        problems.append(
            f"{len(differences)} difference(s) between the models and the migrated schema: "
            "generate a revision with `flask --app server db migrate -m ...` and review it"
        )
    return {
        "ok": not problems,
        "dialect": dialect,
        "database": database,
        "current": current,
        "heads": heads,
        "problems": problems,
        "differences": differences,
        "ignored": ignored,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--directory", help="migrations directory (default: the repository's)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        print("check_migrations: set DATABASE_URL to the database to check", file=sys.stderr)
        return 2
    from server import create_app

    with tempfile.TemporaryDirectory(prefix="onecard-keys-") as tmp:
        # The check reads no personal data; never create keys in a developer's instance/ for it.
        keys_dir = os.environ.get("SSC_KEYS_DIR") or tmp
        app = create_app({"SSC_KEYS_DIR": keys_dir})
        report = check(app, args.directory)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if not report["ok"]:
        for problem in report["problems"]:
            print(f"check_migrations: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
