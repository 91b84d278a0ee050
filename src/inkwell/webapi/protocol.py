"""Request and response models of the web API (also their OpenAPI schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inkwell.completion.protocol import FileInput
from inkwell.http import parse_body


class WebCompletionRequest(BaseModel):
    """``POST /api/completion-messages``: the service API's body without ``user`` (the passport's end
    user is the caller)."""

    model_config = ConfigDict(extra="ignore")

    inputs: dict[str, Any] = Field(description="Values of the app's input form, by variable name.")
    query: str = Field(default="", description="Legacy: merged as input `query` when the form declares it.")
    files: list[FileInput] | None = None
    response_mode: Literal["blocking", "streaming"] | None = Field(default=None, description="Absent means blocking.")
    retriever_from: str = Field(default="web_app", description="Accepted and ignored.")

    @classmethod
    def parse(cls, data: dict[str, Any]) -> WebCompletionRequest:
        return parse_body(cls, data)


class SimpleMetadata(BaseModel):
    retriever_resources: list[dict[str, Any]]


class SimpleCompletionResponse(BaseModel):
    """The blocking answer of ``/api``: ``metadata`` is the simple form (no usage)."""

    event: Literal["message"]
    task_id: str
    id: str
    message_id: str
    mode: Literal["completion"]
    answer: str
    metadata: SimpleMetadata
    created_at: int


class PassportResponse(BaseModel):
    access_token: str = Field(description="HS256 JWT; send it back as `X-App-Passport` (or `Authorization: Bearer`).")


class SiteObject(BaseModel):
    """An app's web-page settings (`GET /v1/site`)."""

    title: str
    chat_color_theme: str | None
    chat_color_theme_inverted: bool
    icon_type: str | None
    icon: str | None
    icon_background: str | None
    description: str
    copyright: str | None
    privacy_policy: str | None
    custom_disclaimer: str
    default_language: str
    show_workflow_steps: bool
    use_icon_as_answer_icon: bool
    icon_url: str | None


class WebSiteObject(SiteObject):
    prompt_public: bool


class WebSite(BaseModel):
    """`GET /api/site`."""

    app_id: str
    end_user_id: str
    enable_site: bool
    site: WebSiteObject
    model_config_: None = Field(default=None, alias="model_config")
    plan: str
    can_replace_logo: bool
    custom_config: dict[str, Any] | None


class SaveMessageRequest(BaseModel):
    message_id: str


class SavedMessageFile(BaseModel):
    id: str
    filename: str
    type: str
    url: str | None
    mime_type: str
    size: int
    transfer_method: str
    belongs_to: str
    upload_file_id: str | None


class Feedback(BaseModel):
    rating: Literal["like", "dislike"]


class SavedMessageItem(BaseModel):
    id: str = Field(description="The message id.")
    inputs: dict[str, Any]
    query: str
    answer: str
    message_files: list[SavedMessageFile]
    feedback: Feedback | None
    created_at: int


class SavedMessagesPage(BaseModel):
    limit: int
    has_more: bool
    data: list[SavedMessageItem]
