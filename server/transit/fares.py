"""Fare data: import GTFS-Fares v2 CSV files (and the project's extensions) and load them.

``import_fares(session, directory, now)`` reads every file, validates it row by row and collects
*every* error as ``{file, line, column, code, message}``; with any error nothing is written and
``DomainError("transit.fare_data_invalid", errors=[...])`` is raised. Otherwise the fare tables
are replaced in one transaction and a ``fare_import`` row records the import; its id is the fare
data version. ``load_fare_table(session)`` builds the in-memory :class:`FareTable`, cached per
process and per database, keyed by the latest import (one small query per call).

Files are ``NAME.csv`` (or GTFS's ``NAME.txt``), UTF-8 with or without BOM, a header row first.
Unknown columns are ignored, as GTFS consumers do, and listed in the report. The format is
described in ``server/transit/data/README.md``; error codes:

``missing_file`` ``bad_encoding`` ``missing_column`` ``duplicate_column`` ``bad_row``
``missing_value`` ``bad_integer`` ``bad_number`` ``bad_amount`` ``bad_currency`` ``bad_date``
``bad_date_range`` ``bad_value`` ``unsupported_value`` ``out_of_range`` ``unknown_city``
``unknown_mode`` ``unknown_reference`` ``duplicate_key`` ``overlapping_rule``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from server.errors import DomainError
from server.registry.rules import CITY_BY_CODE
from server.transit import models as m
from server.transit.pricing import (
    ConcessionPolicy,
    DurationFare,
    FareCap,
    FareTable,
    IncompleteTripRule,
    LegRule,
    NetworkInfo,
    OperatorInfo,
    StopInfo,
    TransferRule,
    VolumeDiscount,
)
from server.transit.rules import MODES, OTHER_CITIES, SUPPORTED_DURATION_LIMIT_TYPES

CURRENCY = "CNY"
MAX_AMOUNT_FEN = 100_000_000  # ¥1,000,000: far above any fare
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 200
DEMO_DIR = Path(__file__).resolve().parent / "data" / "demo"

# A short zh-CN label per code, then the English detail: operators read these in the report.
_LABELS = {
    "missing_file": "缺少文件",
    "bad_encoding": "文件编码错误（须为 UTF-8）",
    "missing_column": "缺少列",
    "duplicate_column": "列名重复",
    "bad_row": "行格式错误",
    "missing_value": "缺少必填值",
    "bad_integer": "整数格式错误",
    "bad_number": "数字格式错误",
    "bad_amount": "金额错误",
    "bad_currency": "币种错误",
    "bad_date": "日期格式错误",
    "bad_date_range": "日期范围错误",
    "bad_value": "取值错误",
    "unsupported_value": "不支持的取值",
    "out_of_range": "超出范围",
    "unknown_city": "未知城市代码",
    "unknown_mode": "未知交通方式",
    "unknown_reference": "引用的编号不存在",
    "duplicate_key": "重复的记录",
    "overlapping_rule": "规则范围重叠",
}


# --- value parsers ---------------------------------------------------------------------------
class _Bad(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_INT = re.compile(r"^-?\d+$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_DATE = re.compile(r"^\d{8}$")

Parser = Callable[[str], Any]


def _text(max_length: int = MAX_NAME_LENGTH) -> Parser:
    def parse(raw: str) -> str:
        if len(raw) > max_length:
            raise _Bad("bad_value", f"longer than {max_length} characters")
        return raw

    return parse


_ID = _text(MAX_ID_LENGTH)


def _integer(low: int | None = None, high: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        if not _INT.match(raw):
            raise _Bad("bad_integer", f"{raw!r} is not a whole number")
        value = int(raw)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{'' if low is None else low}..{'' if high is None else high}"
            raise _Bad("out_of_range", f"{value} is outside {bounds}")
        return value

    return parse


def parse_amount_fen(raw: str, allow_negative: bool = False) -> int:
    """Decimal yuan ("2.00", "2", "-1.5") → integer fen; at most 2 decimals, never a float."""
    if not _DECIMAL.match(raw):
        raise _Bad("bad_amount", f"{raw!r} is not an amount in yuan such as 2.00")
    if "." in raw and len(raw.split(".", 1)[1]) > 2:
        raise _Bad("bad_amount", f"{raw!r} has more than 2 decimals (fen)")
    value = Decimal(raw)
    if value < 0 and not allow_negative:
        raise _Bad("bad_amount", f"{raw!r} is negative")
    fen = int(value * 100)
    if abs(fen) > MAX_AMOUNT_FEN:
        raise _Bad("bad_amount", f"{raw!r} is too large")
    return fen


def _amount(allow_negative: bool = False, positive: bool = False) -> Parser:
    def parse(raw: str) -> int:
        fen = parse_amount_fen(raw, allow_negative)
        if positive and fen <= 0:
            raise _Bad("bad_amount", f"{raw!r} must be more than 0")
        return fen

    return parse


def _max_or_amount(raw: str) -> int | None:
    return None if raw == "max" else parse_amount_fen(raw)


def _number(low: float, high: float) -> Parser:
    def parse(raw: str) -> float:
        if not _DECIMAL.match(raw):
            raise _Bad("bad_number", f"{raw!r} is not a decimal number")
        value = float(raw)
        if not low <= value <= high:
            raise _Bad("out_of_range", f"{raw} is outside {low}..{high}")
        return value

    return parse


def _date(raw: str) -> date:
    if not _DATE.match(raw):
        raise _Bad("bad_date", f"{raw!r} is not a date YYYYMMDD")
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        raise _Bad("bad_date", f"{raw!r} is not a calendar date") from None


def _choice(*values: str) -> Parser:
    def parse(raw: str) -> str:
        if raw not in values:
            raise _Bad("bad_value", f"{raw!r} is not one of {', '.join(values)}")
        return raw

    return parse


def _int_choice(*values: int) -> Parser:
    def parse(raw: str) -> int:
        if not _INT.match(raw) or int(raw) not in values:
            raise _Bad("bad_value", f"{raw!r} is not one of {', '.join(map(str, values))}")
        return int(raw)

    return parse


def _bool01(raw: str) -> bool:
    if raw not in ("0", "1"):
        raise _Bad("bad_value", f"{raw!r} is not 0 or 1")
    return raw == "1"


def _city(raw: str) -> str:
    if raw not in CITY_BY_CODE:
        raise _Bad("unknown_city", f"{raw!r} is not a Guangdong city code such as 440100")
    return raw


def _mode(raw: str) -> str:
    if raw not in MODES:
        raise _Bad("unknown_mode", f"{raw!r} is not one of {', '.join(sorted(MODES))}")
    return raw


def _mode_or_any(raw: str) -> str:
    return raw if raw == "*" else _mode(raw)


def _modes(raw: str) -> str:
    parts = [p.strip() for p in raw.split(";")]
    for part in parts:
        _mode(part)
    if len(set(parts)) != len(parts):
        raise _Bad("bad_value", f"{raw!r} names a mode twice")
    return ";".join(parts)


def _currency(raw: str) -> str:
    if raw != CURRENCY:
        raise _Bad("bad_currency", f"{raw!r}: only {CURRENCY} is accepted")
    return raw


# --- file specifications ---------------------------------------------------------------------
@dataclass(frozen=True)
class Col:
    name: str
    parse: Parser
    required: bool = False
    attr: str | None = None  # model attribute, default ``name``
    ref: str | None = None  # a file whose id this must name, or "leg_groups"
    default: Any = None

    @property
    def key(self) -> str:
        return self.attr or self.name


@dataclass(frozen=True)
class FileSpec:
    name: str
    model: type
    columns: tuple[Col, ...]
    key: tuple[str, ...]  # column names that identify a row (duplicate_key)
    required: bool = False
    id_column: str | None = None  # what other files reference

    @property
    def filenames(self) -> tuple[str, str]:
        return f"{self.name}.csv", f"{self.name}.txt"


# In dependency order: a file may only reference files above it.
FILES: tuple[FileSpec, ...] = (
    FileSpec(
        "operators",
        m.TransitOperator,
        (
            Col("operator_id", _ID, True),
            Col("name_zh", _text(100), True),
            Col("name_en", _text(100), True),
            Col("city_code", _city, True),
            Col("mode", _mode, True),
        ),
        key=("operator_id",),
        required=True,
        id_column="operator_id",
    ),
    FileSpec(
        "networks",
        m.TransitNetwork,
        (
            Col("network_id", _ID, True),
            Col("network_name", _text()),
            Col("operator_id", _ID, True, ref="operators"),
            Col("city_code", _city, True),
            Col("mode", _mode, True),
        ),
        key=("network_id",),
        required=True,
        id_column="network_id",
    ),
    FileSpec(
        "stops",
        m.TransitStop,
        (
            Col("stop_id", _ID, True),
            Col("stop_name", _text(), True),
            Col("stop_lat", _number(-90, 90)),
            Col("stop_lon", _number(-180, 180)),
            Col("city_code", _city, True),
        ),
        key=("stop_id",),
        id_column="stop_id",
    ),
    FileSpec(
        "areas",
        m.FareArea,
        (Col("area_id", _ID, True), Col("area_name", _text())),
        key=("area_id",),
        id_column="area_id",
    ),
    FileSpec(
        "stop_areas",
        m.FareStopArea,
        (
            Col("area_id", _ID, True, ref="areas"),
            Col("stop_id", _ID, True, ref="stops"),
        ),
        key=("area_id", "stop_id"),
    ),
    FileSpec(
        "rider_categories",
        m.FareRiderCategory,
        (
            Col("rider_category_id", _ID, True),
            Col("rider_category_name", _text(), True),
            Col("is_default_fare_category", _bool01, default=False),
        ),
        key=("rider_category_id",),
        id_column="rider_category_id",
    ),
    FileSpec(
        "fare_media",
        m.FareMedia,
        (
            Col("fare_media_id", _ID, True),
            Col("fare_media_name", _text()),
            Col("fare_media_type", _int_choice(0, 1, 2, 3, 4), True),
        ),
        key=("fare_media_id",),
        id_column="fare_media_id",
    ),
    FileSpec(
        "fare_products",
        m.FareProduct,
        (
            Col("fare_product_id", _ID, True),
            Col("fare_product_name", _text()),
            Col("rider_category_id", _ID, ref="rider_categories"),
            Col("fare_media_id", _ID, ref="fare_media"),
            Col("amount", _amount(allow_negative=True), True, attr="amount_fen"),
            Col("currency", _currency, True),
        ),
        key=("fare_product_id",),
        required=True,
        id_column="fare_product_id",
    ),
    FileSpec(
        "fare_leg_rules",
        m.FareLegRule,
        (
            Col("leg_group_id", _ID),
            Col("network_id", _ID, True, ref="networks"),
            Col("from_area_id", _ID, ref="areas"),
            Col("to_area_id", _ID, ref="areas"),
            Col("fare_product_id", _ID, True, ref="fare_products"),
            Col("rule_priority", _integer(0, 1_000_000), default=0),
        ),
        key=("network_id", "from_area_id", "to_area_id", "fare_product_id"),
        required=True,
        id_column="leg_group_id",
    ),
    FileSpec(
        "fare_transfer_rules",
        m.FareTransferRule,
        (
            Col("from_leg_group_id", _ID, ref="fare_leg_rules"),
            Col("to_leg_group_id", _ID, ref="fare_leg_rules"),
            Col("transfer_count", _integer(-1, 1_000)),
            Col("duration_limit", _integer(1, 366 * 86_400)),
            Col("duration_limit_type", _int_choice(0, 1, 2, 3)),
            Col("fare_transfer_type", _int_choice(0, 1, 2), True),
            Col("fare_product_id", _ID, ref="fare_products"),
        ),
        key=(
            "from_leg_group_id",
            "to_leg_group_id",
            "fare_product_id",
            "transfer_count",
            "duration_limit",
        ),
    ),
    FileSpec(
        "concession_policies",
        m.FareConcessionPolicy,
        (
            Col("policy_id", _ID, True),
            Col("city_code", _city, True),
            Col("mode", _mode_or_any, True),
            Col("rider_category_id", _ID, True, ref="rider_categories"),
            Col("discount", _choice("free", "percent"), True),
            Col("percent_off", _integer(1, 100)),
            Col("valid_from", _date, True),
            Col("valid_to", _date),
            Col("other_cities", _choice(*sorted(OTHER_CITIES)), True),
        ),
        key=("policy_id",),
    ),
    FileSpec(
        "fare_caps",
        m.FareCapRule,
        (
            Col("cap_id", _ID, True),
            Col("city_code", _city, True),
            Col("modes", _modes, True),
            Col("period", _choice("day", "month"), True),
            Col("amount", _amount(positive=True), True, attr="amount_fen"),
        ),
        key=("cap_id",),
    ),
    FileSpec(
        "volume_discounts",
        m.FareVolumeDiscount,
        (
            Col("rule_id", _ID, True),
            Col("city_code", _city, True),
            Col("modes", _modes, True),
            Col("after_rides", _integer(0, 10_000), True),
            Col("percent_off", _integer(1, 100), True),
            Col("period", _choice("month"), True),
        ),
        key=("rule_id",),
    ),
    FileSpec(
        "duration_fares",
        m.FareDurationFare,
        (
            Col("network_id", _ID, True, ref="networks"),
            Col("free_minutes", _integer(0, 10_080), True),
            Col("block_minutes", _integer(1, 10_080), True),
            Col("block_amount", _amount(), True, attr="block_fen"),
            Col("max_amount", _amount(), attr="max_fen"),
        ),
        key=("network_id",),
    ),
    FileSpec(
        "incomplete_trips",
        m.FareIncompleteTripRule,
        (
            Col("network_id", _ID, True, ref="networks"),
            Col("no_exit", _max_or_amount, True, attr="no_exit_fen"),
            Col("no_entry", _max_or_amount, True, attr="no_entry_fen"),
            Col("exit_timeout_minutes", _integer(1, 10_080)),
            Col("same_station_minutes", _integer(0, 10_080)),
        ),
        key=("network_id",),
    ),
)
FILE_BY_NAME = {spec.name: spec for spec in FILES}


# --- reading and validating ------------------------------------------------------------------
@dataclass
class _Row:
    line: int
    values: dict[str, Any]  # model attribute → parsed value
    raw: dict[str, str]  # column → stripped text
    ok: bool = True


@dataclass
class ParsedFareData:
    """Validated rows per file (model attribute → value) and what was read."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    file_hashes: dict[str, str] = field(default_factory=dict)
    unknown_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        joined = "".join(f"{name}:{sha}\n" for name, sha in sorted(self.file_hashes.items()))
        return hashlib.sha256(joined.encode()).hexdigest()


class _Reader:
    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []
        self.ids: dict[str, set[str]] = {}
        self.data = ParsedFareData()

    def error(self, file: str | None, line: int | None, column: str | None, code: str, msg: str):
        self.errors.append(
            {
                "file": file,
                "line": line,
                "column": column,
                "code": code,
                "message": f"{_LABELS[code]}: {msg}",
            }
        )

    # One file --------------------------------------------------------------------------------
    def read_file(self, directory: Path, spec: FileSpec) -> list[_Row]:
        path = next((directory / n for n in spec.filenames if (directory / n).is_file()), None)
        self.ids.setdefault(spec.name, set())
        if path is None:
            if spec.required:
                self.error(spec.filenames[0], None, None, "missing_file", "this file is required")
            return []
        filename = path.name
        content = path.read_bytes()
        self.data.file_hashes[filename] = hashlib.sha256(content).hexdigest()
        try:
            decoded = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.error(filename, None, None, "bad_encoding", str(exc))
            return []
        reader = csv.reader(io.StringIO(decoded, newline=""))
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            header = []
        except csv.Error as exc:
            self.error(filename, 1, None, "bad_row", str(exc))
            return []
        if not self._check_header(filename, spec, header):
            return []
        rows: list[_Row] = []
        seen: dict[tuple[str, ...], int] = {}
        line = reader.line_num
        try:
            for record in reader:
                start, line = line + 1, reader.line_num
                if not any(field.strip() for field in record):
                    continue  # blank line
                row = self._read_row(filename, spec, header, record, start)
                if row is None:
                    continue
                self._check_key(filename, spec, row, seen)
                rows.append(row)
        except csv.Error as exc:
            self.error(filename, line + 1, None, "bad_row", str(exc))
        return rows

    def _check_header(self, filename: str, spec: FileSpec, header: list[str]) -> bool:
        ok = True
        known = {c.name for c in spec.columns}
        for name in sorted({h for h in header if header.count(h) > 1}):
            self.error(filename, 1, name, "duplicate_column", f"column {name!r} appears twice")
            ok = False
        for col in spec.columns:
            if col.required and col.name not in header:
                self.error(filename, 1, col.name, "missing_column", f"no column {col.name!r}")
                ok = False
        unknown = [h for h in header if h not in known]
        if unknown:
            self.data.unknown_columns[filename] = unknown
        return ok

    def _read_row(
        self, filename: str, spec: FileSpec, header: list[str], record: list[str], line: int
    ) -> _Row | None:
        if len(record) > len(header):
            self.error(
                filename,
                line,
                None,
                "bad_row",
                f"{len(record)} fields but the header has {len(header)}",
            )
            return None
        raw = {h: (record[i].strip() if i < len(record) else "") for i, h in enumerate(header)}
        row = _Row(line, {}, raw)
        for col in spec.columns:
            text_value = raw.get(col.name, "")
            if text_value == "":
                if col.required:
                    self.error(filename, line, col.name, "missing_value", "a value is required")
                    row.ok = False
                row.values[col.key] = col.default
                continue
            try:
                row.values[col.key] = col.parse(text_value)
            except _Bad as bad:
                self.error(filename, line, col.name, bad.code, bad.message)
                row.ok = False
                row.values[col.key] = None
                continue
            if col.ref is not None and text_value not in self.ids.get(col.ref, set()):
                self.error(
                    filename,
                    line,
                    col.name,
                    "unknown_reference",
                    f"{text_value!r} is not defined in {col.ref}",
                )
                row.ok = False
        if spec.id_column and raw.get(spec.id_column):
            self.ids[spec.name].add(raw[spec.id_column])
        return row

    def _check_key(
        self, filename: str, spec: FileSpec, row: _Row, seen: dict[tuple[str, ...], int]
    ) -> None:
        key = tuple(row.raw.get(k, "") for k in spec.key)
        if len(spec.key) == 1 and key == ("",):
            return  # already reported as missing_value
        if key in seen:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(spec.key, key, strict=True))
            self.error(
                filename,
                row.line,
                spec.key[0],
                "duplicate_key",
                f"{shown} already defined on line {seen[key]}",
            )
            row.ok = False
        else:
            seen[key] = row.line


def read_fare_directory(directory: str | Path) -> ParsedFareData:
    """Read and validate every file; raises ``DomainError("transit.fare_data_invalid")`` with
    every row error, or returns the validated rows."""
    folder = Path(directory)
    reader = _Reader()
    if not folder.is_dir():
        reader.error(None, None, None, "missing_file", f"{str(folder)!r} is not a directory")
        raise _invalid(reader.errors)
    parsed: dict[str, list[_Row]] = {}
    for spec in FILES:
        parsed[spec.name] = reader.read_file(folder, spec)
    _cross_checks(reader, parsed)
    if reader.errors:
        raise _invalid(reader.errors)
    for spec in FILES:
        reader.data.rows[spec.name] = [row.values for row in parsed[spec.name]]
    return reader.data


def _invalid(errors: list[dict[str, Any]]) -> DomainError:
    return DomainError(
        "transit.fare_data_invalid", f"{len(errors)} error(s) in the fare data", errors=errors
    )


def _name(reader: _Reader, spec_name: str) -> str:
    for filename in reader.data.file_hashes:
        if filename.rsplit(".", 1)[0] == spec_name:
            return filename
    return f"{spec_name}.csv"


def _cross_checks(reader: _Reader, parsed: dict[str, list[_Row]]) -> None:
    """Rules that look at more than one value or more than one row."""
    # rider_categories: at most one default category.
    defaults = [r for r in parsed["rider_categories"] if r.values["is_default_fare_category"]]
    for row in defaults[1:]:
        reader.error(
            _name(reader, "rider_categories"),
            row.line,
            "is_default_fare_category",
            "bad_value",
            f"only one default category is allowed (line {defaults[0].line} is one)",
        )

    amounts = {
        r.raw["fare_product_id"]: r.values["amount_fen"]
        for r in parsed["fare_products"]
        if r.values.get("amount_fen") is not None
    }
    # fare_leg_rules: legs are never priced below zero.
    for row in parsed["fare_leg_rules"]:
        amount = amounts.get(row.raw.get("fare_product_id", ""))
        if amount is not None and amount < 0:
            reader.error(
                _name(reader, "fare_leg_rules"),
                row.line,
                "fare_product_id",
                "bad_amount",
                "a leg rule's fare product must not be negative (only transfer products may be)",
            )

    for row in parsed["fare_transfer_rules"]:
        _check_transfer(reader, row, amounts)
    for row in parsed["concession_policies"]:
        _check_concession(reader, row)
    _check_overlaps(reader, parsed["fare_caps"], "fare_caps", ("city_code", "period"))
    _check_overlaps(reader, parsed["volume_discounts"], "volume_discounts", ("city_code",))


def _check_transfer(reader: _Reader, row: _Row, amounts: Mapping[str, int]) -> None:
    filename = _name(reader, "fare_transfer_rules")
    v = row.values
    same_group = row.raw.get("from_leg_group_id", "") == row.raw.get("to_leg_group_id", "")
    if same_group and v["transfer_count"] is None:
        reader.error(
            filename,
            row.line,
            "transfer_count",
            "missing_value",
            "required when from_leg_group_id equals to_leg_group_id (GTFS)",
        )
    if v["transfer_count"] == 0:
        reader.error(filename, row.line, "transfer_count", "bad_value", "use -1 or 1 and more")
    if v["duration_limit"] is not None and v["duration_limit_type"] is None:
        reader.error(
            filename,
            row.line,
            "duration_limit_type",
            "missing_value",
            "required when duration_limit is given",
        )
    limit_type = v["duration_limit_type"]
    if limit_type is not None and limit_type not in SUPPORTED_DURATION_LIMIT_TYPES:
        reader.error(
            filename,
            row.line,
            "duration_limit_type",
            "unsupported_value",
            "only 2 (arrival → departure) and 3 (arrival → arrival) can be evaluated",
        )
    amount = amounts.get(row.raw.get("fare_product_id", ""))
    if v["fare_transfer_type"] == 1 and amount is not None and amount > 0:
        reader.error(
            filename,
            row.line,
            "fare_product_id",
            "unsupported_value",
            "with fare_transfer_type 1 the transfer product must be 0 or a discount (negative)",
        )


def _check_concession(reader: _Reader, row: _Row) -> None:
    filename = _name(reader, "concession_policies")
    v = row.values
    if v["discount"] == "percent" and row.raw.get("percent_off", "") == "":
        reader.error(
            filename, row.line, "percent_off", "missing_value", "required for discount=percent"
        )
    if v["discount"] == "free" and row.raw.get("percent_off", "") != "":
        reader.error(filename, row.line, "percent_off", "bad_value", "leave blank for free")
    if v["valid_from"] and v["valid_to"] and v["valid_to"] < v["valid_from"]:
        reader.error(filename, row.line, "valid_to", "bad_date_range", "valid_to is before from")


def _check_overlaps(
    reader: _Reader, rows: Sequence[_Row], spec_name: str, scope: tuple[str, ...]
) -> None:
    """At most one rule per scope and mode: ``History`` carries one running total per scope."""
    filename = _name(reader, spec_name)
    claimed: dict[tuple[Any, ...], int] = {}
    for row in rows:
        if not row.ok or row.values.get("modes") is None:
            continue
        for mode in row.values["modes"].split(";"):
            key = (*(row.values[s] for s in scope), mode)
            if key in claimed:
                reader.error(
                    filename,
                    row.line,
                    "modes",
                    "overlapping_rule",
                    f"{mode!r} in {row.values['city_code']} is already covered on line "
                    f"{claimed[key]}",
                )
                break
            claimed[key] = row.line


# --- building the in-memory table ------------------------------------------------------------
def build_fare_table(
    rows: Mapping[str, Sequence[Mapping[str, Any]]], version: int | None = None
) -> FareTable:
    """A :class:`FareTable` from validated rows (model attribute → value) per file."""

    def get(name: str) -> Sequence[Mapping[str, Any]]:
        return rows.get(name, ())

    products = {r["fare_product_id"]: r["amount_fen"] for r in get("fare_products")}
    stop_areas: dict[str, set[str]] = {}
    for r in get("stop_areas"):
        stop_areas.setdefault(r["stop_id"], set()).add(r["area_id"])
    leg_rules: dict[str, list[LegRule]] = {}
    for r in get("fare_leg_rules"):
        leg_rules.setdefault(r["network_id"], []).append(
            LegRule(
                network_id=r["network_id"],
                from_area_id=r["from_area_id"],
                to_area_id=r["to_area_id"],
                fare_product_id=r["fare_product_id"],
                amount_fen=products[r["fare_product_id"]],
                leg_group_id=r["leg_group_id"],
                rule_priority=r["rule_priority"] or 0,
            )
        )
    categories = get("rider_categories")
    default_category = next(
        (r["rider_category_id"] for r in categories if r["is_default_fare_category"]), None
    )
    return FareTable(
        version=version,
        operators={
            r["operator_id"]: OperatorInfo(
                r["operator_id"], r["name_zh"], r["name_en"], r["city_code"], r["mode"]
            )
            for r in get("operators")
        },
        networks={
            r["network_id"]: NetworkInfo(
                r["network_id"], r["network_name"], r["operator_id"], r["city_code"], r["mode"]
            )
            for r in get("networks")
        },
        stops={
            r["stop_id"]: StopInfo(r["stop_id"], r["stop_name"], r["city_code"])
            for r in get("stops")
        },
        stop_areas={k: frozenset(v) for k, v in stop_areas.items()},
        leg_rules={k: tuple(v) for k, v in leg_rules.items()},
        transfer_rules=tuple(
            TransferRule(
                from_leg_group_id=r["from_leg_group_id"],
                to_leg_group_id=r["to_leg_group_id"],
                fare_transfer_type=r["fare_transfer_type"],
                amount_fen=products[r["fare_product_id"]] if r["fare_product_id"] else 0,
                fare_product_id=r["fare_product_id"],
                transfer_count=r["transfer_count"],
                duration_limit_s=r["duration_limit"],
                duration_limit_type=r["duration_limit_type"],
            )
            for r in get("fare_transfer_rules")
        ),
        default_rider_category=default_category,
        rider_category_ids=frozenset(r["rider_category_id"] for r in categories),
        concessions=tuple(
            ConcessionPolicy(
                policy_id=r["policy_id"],
                city_code=r["city_code"],
                mode=r["mode"],
                rider_category_id=r["rider_category_id"],
                discount=r["discount"],
                percent_off=r["percent_off"],
                valid_from=r["valid_from"],
                valid_to=r["valid_to"],
                other_cities=r["other_cities"],
            )
            for r in get("concession_policies")
        ),
        caps=tuple(
            FareCap(
                r["cap_id"],
                r["city_code"],
                frozenset(r["modes"].split(";")),
                r["period"],
                r["amount_fen"],
            )
            for r in get("fare_caps")
        ),
        volume_discounts=tuple(
            VolumeDiscount(
                r["rule_id"],
                r["city_code"],
                frozenset(r["modes"].split(";")),
                r["after_rides"],
                r["percent_off"],
                r["period"],
            )
            for r in get("volume_discounts")
        ),
        duration_fares={
            r["network_id"]: DurationFare(
                r["network_id"], r["free_minutes"], r["block_minutes"], r["block_fen"], r["max_fen"]
            )
            for r in get("duration_fares")
        },
        incomplete_rules={
            r["network_id"]: IncompleteTripRule(
                r["network_id"],
                r["no_exit_fen"],
                r["no_entry_fen"],
                r["exit_timeout_minutes"],
                r["same_station_minutes"],
            )
            for r in get("incomplete_trips")
        },
    )


def fare_table_from_directory(directory: str | Path = DEMO_DIR) -> FareTable:
    """Validate a directory and build its table without a database (tests, tools)."""
    return build_fare_table(read_fare_directory(directory).rows)


# --- import ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportReport:
    import_id: int  # the fare data version
    imported_at: datetime
    source: str
    digest: str
    files: dict[str, str]  # file → sha256
    rows: dict[str, int]  # file → rows imported
    unknown_columns: dict[str, list[str]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": True,
            "import_id": self.import_id,
            "imported_at": self.imported_at.isoformat(),
            "source": self.source,
            "digest": self.digest,
            "files": self.files,
            "rows": self.rows,
            "unknown_columns": self.unknown_columns,
        }


def import_fares(session: Session, directory: str | Path, now: datetime) -> ImportReport:
    """Validate ``directory`` and replace all fare data with it in one transaction (commits).
    Raises ``DomainError("transit.fare_data_invalid", errors=[...])`` and writes nothing if any
    row is wrong."""
    data = read_fare_directory(directory)
    if session.get_bind().dialect.name == "postgresql":
        # One import at a time; readers are not blocked (they see the old data until commit).
        session.execute(text("LOCK TABLE fare_import IN SHARE ROW EXCLUSIVE MODE"))
    try:
        for spec in reversed(FILES):
            session.execute(delete(spec.model))
        for spec in FILES:
            if data.rows[spec.name]:
                session.execute(insert(spec.model), data.rows[spec.name])
        counts = {spec.name: len(data.rows[spec.name]) for spec in FILES}
        record = m.FareImport(
            imported_at=now,
            source=str(Path(directory).resolve())[-255:],
            digest=data.digest,
            file_hashes=json.dumps(data.file_hashes, sort_keys=True),
            row_counts=json.dumps(counts),
        )
        session.add(record)
        session.flush()
        session.commit()
    except Exception:
        session.rollback()
        raise
    return ImportReport(
        import_id=record.id,
        imported_at=now,
        source=record.source,
        digest=data.digest,
        files=dict(data.file_hashes),
        rows=counts,
        unknown_columns=dict(data.unknown_columns),
    )


# --- loading ---------------------------------------------------------------------------------
_cache: dict[str, tuple[tuple[int, str], FareTable]] = {}
_cache_lock = threading.Lock()


def latest_import(session: Session) -> m.FareImport | None:
    return session.scalars(select(m.FareImport).order_by(m.FareImport.id.desc()).limit(1)).first()


def load_fare_table(session: Session) -> FareTable:
    """The fare data of the latest import, cached per process and database; an empty table
    (``version`` None) before the first import."""
    row = session.execute(
        select(m.FareImport.id, m.FareImport.digest).order_by(m.FareImport.id.desc()).limit(1)
    ).first()
    if row is None:
        return FareTable()
    key = (row.id, row.digest)
    database = str(session.get_bind().url)
    with _cache_lock:
        cached = _cache.get(database)
    if cached is not None and cached[0] == key:
        return cached[1]
    rows: dict[str, list[dict[str, Any]]] = {}
    for spec in FILES:
        attrs = [c.key for c in spec.model.__table__.columns]
        order = [getattr(spec.model, c.key) for c in spec.model.__table__.primary_key.columns]
        rows[spec.name] = [
            {a: getattr(obj, a) for a in attrs}
            for obj in session.scalars(select(spec.model).order_by(*order))
        ]
    table = build_fare_table(rows, version=row.id)
    with _cache_lock:
        _cache[database] = (key, table)
    return table
