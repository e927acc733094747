"""Request validation and the OpenAPI document, from the same pydantic models.

A view declares its input and output once::

    @bp.post("/persons")
    @require("person.register")
    @endpoint(summary="登记人员 Register a person", body=PersonIn, response=PersonOut, status=201)
    def register(body: PersonIn): ...

``endpoint`` enforces ``application/json``, parses and validates the body (unknown fields are
refused), validates the query string, serialises the returned model, and leaves a description on
the function that :func:`build_openapi` reads to generate ``/openapi.json``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import swagger_ui_bundle
from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_from_directory
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import models_json_schema

from server.error_codes import CATALOGUE
from server.errors import DomainError


class Schema(BaseModel):
    """Base for request models: unknown fields are an error, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutSchema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    """RFC 9457 problem document."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    request_id: str | None = None


def _validation_errors(exc: ValidationError, location: str) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in err["loc"])
        errors.append({"field": f"{location}.{path}" if path else location, "code": err["type"]})
    return errors


def _fail_validation(exc: ValidationError, location: str) -> DomainError:
    errors = _validation_errors(exc, location)
    fields = ", ".join(e["field"] for e in errors)
    return DomainError("request.validation_failed", f"Invalid fields: {fields}", errors=errors)


def parse_body(model: type[BaseModel]) -> BaseModel:
    req = request._get_current_object()
    if not req.mimetype or req.mimetype != "application/json":
        raise DomainError("request.unsupported_media_type")
    data = req.get_json(silent=True)
    if data is None:
        raise DomainError("request.malformed_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _fail_validation(exc, "body") from None


def parse_query(model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        data[key] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _fail_validation(exc, "query") from None


def endpoint(
    *,
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[str, ...] = (),
    description: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    for code in errors:
        if code not in CATALOGUE:
            raise KeyError(f"unknown error code {code!r}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            if body is not None:
                kwargs["body"] = parse_body(body)
            if query is not None:
                kwargs["query"] = parse_query(query)
            result = view(*args, **kwargs)
            if isinstance(result, Response):
                return result
            code = status
            if isinstance(result, tuple):
                result, code = result
            if isinstance(result, BaseModel):
                return jsonify(result.model_dump(mode="json")), code
            if result is None:
                return Response(status=204)
            return jsonify(result), code

        wrapper.__openapi__ = {  # type: ignore[attr-defined]
            "summary": summary,
            "description": description,
            "body": body,
            "query": query,
            "response": response,
            "status": status,
            "errors": errors,
        }
        return wrapper

    return decorate


_RULE_ARG = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_TYPES = {"int": "integer", "float": "number"}


def build_openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route that declares itself with :func:`endpoint`."""
    ops: list[tuple[str, str, str, dict[str, Any], dict[str, Any] | None]] = []
    models: dict[tuple[type[BaseModel], str], None] = {(Problem, "serialization"): None}
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        meta = getattr(view, "__openapi__", None)
        if meta is None:
            continue
        auth = getattr(view, "__auth__", None)
        if meta["body"] is not None:
            models[(meta["body"], "validation")] = None
        if meta["query"] is not None:
            models[(meta["query"], "validation")] = None
        if meta["response"] is not None:
            models[(meta["response"], "serialization")] = None
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((rule.rule, method.lower(), rule.endpoint, meta, auth))

    keymap, schema = models_json_schema(list(models), ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = dict(schema.get("$defs", {}))

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return keymap[(model, mode)]  # type: ignore[index]

    paths: dict[str, dict[str, Any]] = {}
    for rule, method, endpoint_name, meta, auth in sorted(ops):
        path = _RULE_ARG.sub(lambda m: "{" + m.group("name") + "}", rule)
        parameters = []
        for m in _RULE_ARG.finditer(rule):
            parameters.append(
                {
                    "name": m.group("name"),
                    "in": "path",
                    "required": True,
                    "schema": {"type": _CONVERTER_TYPES.get(m.group("conv") or "", "string")},
                }
            )
        if meta["query"] is not None:
            qschema = components.get(
                ref(meta["query"], "validation")["$ref"].rsplit("/", 1)[-1], {}
            )
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                parameters.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": "OK"}
        if meta["response"] is not None:
            ok["content"] = {"application/json": {"schema": ref(meta["response"], "serialization")}}
        responses[str(meta["status"])] = ok
        problem = {"application/problem+json": {"schema": ref(Problem, "serialization")}}
        error_codes = list(meta["errors"])
        if meta["body"] is not None:
            error_codes += [
                "request.unsupported_media_type",
                "request.malformed_json",
                "request.too_large",
            ]
        if meta["body"] is not None or meta["query"] is not None:
            error_codes.append("request.validation_failed")
        if auth is not None:
            error_codes += ["auth.unauthenticated", "auth.forbidden"]
        by_status: dict[int, list[str]] = {}
        for code in error_codes:
            by_status.setdefault(CATALOGUE[code].status, []).append(code)
        for http_status, codes in sorted(by_status.items()):
            responses[str(http_status)] = {
                "description": " / ".join(sorted(set(codes))),
                "content": problem,
            }
        operation: dict[str, Any] = {
            "operationId": endpoint_name.replace(".", "_"),
            "summary": meta["summary"],
            "tags": [endpoint_name.split(".", 1)[0]],
            "responses": responses,
        }
        if meta["description"]:
            operation["description"] = meta["description"]
        if parameters:
            operation["parameters"] = parameters
        if meta["body"] is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(meta["body"], "validation")}},
            }
        if auth is not None:
            operation["security"] = [{scheme: []} for scheme in auth["schemes"]]
            operation["x-permission"] = auth.get("permission")
        paths.setdefault(path, {})[method] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "社保卡居民服务“一卡通” SSC One Card API",
            "version": current_app.config.get("API_VERSION", "0.1.0"),
            "description": "错误统一使用 application/problem+json，并带稳定的 code 字段。"
            " Errors are application/problem+json with a stable `code`.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "staffToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "工作人员令牌 Staff",
                },
                "cardholderToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "持卡人令牌 Cardholder session",
                },
                "departmentKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "部门接口密钥 Department API key",
                },
            },
        },
    }


docs_bp = Blueprint("docs", __name__)

_DOCS_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>接口文档 API docs — 社保卡“一卡通”</title>
<link rel="stylesheet" href="{static}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({{url: "{spec}", dom_id: "#swagger-ui"}});</script>
</body></html>"""


@docs_bp.get("/openapi.json")
def openapi_json():
    return jsonify(build_openapi(current_app))


@docs_bp.get("/docs/")
def docs_page():
    # Assets are served from the installed swagger-ui-bundle: no internet needed.
    page = _DOCS_PAGE.format(static="/docs/static", spec="/openapi.json")
    return Response(page, mimetype="text/html")


@docs_bp.get("/docs/static/<path:filename>")
def docs_static(filename: str):
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
