"""A floor under the transit benchmark's tap: the bare endpoint plus one durable PostgreSQL write.

The same route as ``_bare_app`` that also inserts the request body as one row and commits it
(one statement, autocommit, one round trip) on a plain psycopg connection per worker. Any online
tap that decides inside the request and records the tap durably does at least this much, so
``floor_per_s / bare_flask_per_s`` bounds the tap ratio any such design can reach on the machine.
"""

from __future__ import annotations

import os

import psycopg
from flask import Flask, jsonify, request

app = Flask(__name__)
_conn: list[psycopg.Connection] = []


def _connection() -> psycopg.Connection:
    if not _conn:  # after the fork: one connection per worker
        url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        _conn.append(psycopg.connect(url, autocommit=True))
    return _conn[0]


@app.post("/terminal/v1/taps")
def tap():
    body = request.get_data()
    request.get_json()
    row = (
        _connection()
        .execute("INSERT INTO bench_floor_tap (body) VALUES (%s) RETURNING id", (body,))
        .fetchone()
    )
    return jsonify(result="accepted", tap_id=row[0], trip=None)
