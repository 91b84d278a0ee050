"""Request and response models of the feedback and end-user endpoints (also their OpenAPI schemas)."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from inkwell.errors import InvalidParam
from inkwell.http import parse_body

Rating = Literal["like", "dislike"]


class FeedbackFields(BaseModel):
    """The body of a feedback without ``user``: what the web API (passport end user) accepts."""

    model_config = ConfigDict(extra="ignore")

    rating: Rating | None = Field(
        default=None, description="`like` or `dislike`; `null` (or absent) revokes this end user's feedback."
    )
    content: str | None = Field(default=None, description="Free text, stored as given (`null` stays `null`).")

    @classmethod
    def parse(cls, data: dict[str, Any]) -> FeedbackFields:
        return _validate(cls, data)


class FeedbackRequest(FeedbackFields):
    """``POST /v1/messages/{message_id}/feedbacks``."""

    user: str = Field(description="End-user identifier; only the end user who created the message may rate it.")

    @classmethod
    def parse(cls, data: dict[str, Any]) -> FeedbackRequest:
        user = data.get("user")
        if not user:  # the reference treats every falsy value (0, false, [], ...) as missing
            raise InvalidParam("Arg user must be provided.")
        if isinstance(user, int | float) and not isinstance(user, bool):
            data = {**data, "user": str(user)}  # the reference stringifies a non-string user
        return _validate(cls, data)


M = TypeVar("M", bound=FeedbackFields)


def _validate(model: type[M], data: dict[str, Any]) -> M:
    parsed = parse_body(model, data)
    if parsed.content is not None and "\x00" in parsed.content:  # PostgreSQL text cannot hold NUL
        raise InvalidParam("content: must not contain NUL characters")
    return parsed


class FeedbackObject(BaseModel):
    """A feedback in the reference's shape (``MessageFeedback.to_dict``)."""

    id: str
    app_id: str
    conversation_id: None = Field(description="Always null: completion apps have no conversations.")
    message_id: str
    rating: Rating
    content: str | None
    from_source: Literal["user"] = Field(description="`user`: given by an end user (the reference's value).")
    from_end_user_id: str
    from_account_id: None = Field(description="Always null: Inkwell has no console accounts.")
    created_at: str = Field(description="Naive UTC ISO-8601, e.g. `2025-04-24T09:24:38`.")
    updated_at: str = Field(description="Naive UTC ISO-8601; changes when the feedback is updated.")


class FeedbacksPage(BaseModel):
    """``GET /v1/app/feedbacks``: newest first (by creation), offset pages."""

    data: list[FeedbackObject]
    has_more: bool = Field(description="Inkwell addition (SPEC §2): a later page exists.")
    limit: int = Field(description="Inkwell addition: the page size used.")
    page: int = Field(description="Inkwell addition: the page number used.")


class EndUserObject(BaseModel):
    """``GET /v1/end-users/{end_user_id}`` (the reference's end-user detail)."""

    id: str
    tenant_id: None = Field(description="Always null: Inkwell has no tenants.")
    app_id: str
    type: str = Field(description="`service-api` (from a `user` string) or `browser` (web page visitor).")
    external_user_id: str | None = Field(description="The `user` string for `service-api` end users.")
    name: str | None
    is_anonymous: bool
    session_id: str
    created_at: str = Field(description="Naive UTC ISO-8601.")
    updated_at: str = Field(description="Naive UTC ISO-8601.")
