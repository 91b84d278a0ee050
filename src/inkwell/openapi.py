"""OpenAPI: generated from the app, with the hand-parsed request bodies, SSE frames and error envelope
registered as components. ``inkwell openapi`` writes ``openapi.yaml``; a test fails when it drifts.
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

_REF = "#/components/schemas/{model}"

ERROR_DESCRIPTIONS = {
    400: "Invalid parameter, app unavailable, or a model provider error",
    401: "Missing, malformed, unknown or revoked API key (`WWW-Authenticate: Bearer`)",
    403: "App disabled or API access disabled",
    404: "Not found, or not yours",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Content-Type is not application/json",
    429: "Concurrency or rate limit reached (`Retry-After`)",
    503: "A dependency is unavailable",
}


def ref(model: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=model)}


def body_of(model: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref(model)}}}}


def json_response(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": ref(model)}}


def sse_response() -> dict[str, Any]:
    frames = [
        "MessageEventFrame",
        "MessageReplaceEventFrame",
        "MessageEndEventFrame",
        "ErrorEventFrame",
        "TtsMessageEventFrame",
        "TtsMessageEndEventFrame",
        "PingFrame",
    ]
    return {
        "text/event-stream": {
            "schema": {
                "description": "Server-sent events: each frame is `data: <compact JSON>` and a blank line; "
                "pings are `event: ping` with no data.",
                "oneOf": [ref(name) for name in frames],
            }
        }
    }


def multipart_file_body(*, with_user: bool) -> dict[str, Any]:
    """A ``multipart/form-data`` request body of one required ``file`` part (and, for the service API,
    an optional ``user`` field; the web API's end user is the passport's)."""
    properties: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    if with_user:
        properties["user"] = {"type": "string", "description": "End-user identifier (optional)"}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


MP3_RESPONSE: dict[str, Any] = {
    "description": "MP3 audio",
    "content": {"audio/mpeg": {"schema": {"type": "string", "format": "binary"}}},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": ERROR_DESCRIPTIONS[status], "content": json_response("ErrorBody")}
        for status in statuses
    }


def _component_models() -> list[type[BaseModel]]:
    from inkwell.apps.protocol import AppInfo, AppMeta, AppParameters
    from inkwell.audio import protocol as audio
    from inkwell.completion import protocol as completion
    from inkwell.feedback import protocol as feedback
    from inkwell.webapi import protocol as web

    return [
        completion.CompletionRequest,
        completion.StopRequest,
        completion.CompletionResponse,
        completion.ResultResponse,
        completion.ErrorBody,
        *completion.SSE_FRAMES,
        AppInfo,
        AppParameters,
        AppMeta,
        feedback.FeedbackRequest,
        feedback.FeedbacksPage,
        feedback.EndUserObject,
        audio.TextToAudioRequest,
        audio.AudioToTextResponse,
        audio.TtsMessageEventFrame,
        audio.TtsMessageEndEventFrame,
        web.WebCompletionRequest,
        web.SimpleCompletionResponse,
        web.PassportResponse,
        web.SiteObject,
        web.WebSite,
        web.SaveMessageRequest,
        web.SavedMessagesPage,
        feedback.FeedbackFields,  # the web API's feedback body (no `user`)
    ]


def build_schema(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    # FastAPI documents a 422 for parameter validation; Inkwell answers those as 400 `invalid_param`.
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for model in _component_models():
        model_schema = model.model_json_schema(ref_template=_REF)
        for name, definition in model_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components[model.__name__] = model_schema
    schema["components"]["securitySchemes"] = {
        "AppApiKey": {"type": "http", "scheme": "bearer", "description": "App API key `app-...`"},
        "WebPassport": {
            "type": "apiKey",
            "in": "header",
            "name": "X-App-Passport",
            "description": "Web API (`/api`): the passport from `GET /api/passport` (also accepted as "
            "`Authorization: Bearer <passport>`)",
        },
        "AppCode": {"type": "apiKey", "in": "header", "name": "X-App-Code", "description": "The site code"},
    }
    schema["security"] = [{"AppApiKey": []}]
    return schema


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_schema(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def to_yaml(app: FastAPI) -> str:
    return yaml.safe_dump(app.openapi(), sort_keys=False, allow_unicode=True, width=100)
