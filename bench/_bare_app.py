"""The ceiling for the transit benchmark: a bare Flask JSON endpoint, served the same way."""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/terminal/v1/taps")
def tap():
    request.get_json()
    return jsonify(result="accepted", tap_id=1, trip=None)
