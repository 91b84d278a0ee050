"""Response models of the app endpoints (their OpenAPI schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class AppInfo(BaseModel):
    name: str
    description: str
    tags: list[str]
    mode: Literal["completion"]
    author_name: str | None


class AppParameters(BaseModel):
    opening_statement: str | None
    suggested_questions: list[str]
    suggested_questions_after_answer: dict[str, Any]
    speech_to_text: dict[str, Any]
    text_to_speech: dict[str, Any]
    retriever_resource: dict[str, Any]
    annotation_reply: dict[str, Any]
    more_like_this: dict[str, Any]
    user_input_form: list[dict[str, Any]]
    sensitive_word_avoidance: dict[str, bool]
    file_upload: dict[str, Any]
    system_parameters: dict[str, int]


class AppMeta(BaseModel):
    tool_icons: dict[str, Any]
