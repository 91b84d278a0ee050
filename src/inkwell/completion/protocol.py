"""Request and response models of the completion endpoints (also their OpenAPI schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inkwell.errors import InvalidParam
from inkwell.http import parse_body


class FileInput(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str = "image"
    transfer_method: Literal["local_file", "remote_url"]
    upload_file_id: str | None = None
    url: str | None = None


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: dict[str, Any] = Field(description="Values of the app's input form, by variable name.")
    query: str = Field(default="", description="Legacy: merged as input `query` when the form declares it.")
    files: list[FileInput] | None = None
    response_mode: Literal["blocking", "streaming"] | None = Field(default=None, description="Absent means blocking.")
    user: str = Field(description="End-user identifier, unique within the app.")
    retriever_from: str = Field(default="dev", description="Accepted and ignored.")

    @classmethod
    def parse(cls, data: dict[str, Any]) -> CompletionRequest:
        user = data.get("user")
        if user is None or user == "" or user is False:
            raise InvalidParam("Arg user must be provided.")
        if isinstance(user, int | float) and not isinstance(user, bool):
            data = {**data, "user": str(user)}
        return parse_body(cls, data)


class StopRequest(BaseModel):
    user: str


class Usage(BaseModel):
    prompt_tokens: int
    prompt_unit_price: str
    prompt_price_unit: str
    prompt_price: str
    completion_tokens: int
    completion_unit_price: str
    completion_price_unit: str
    completion_price: str
    total_tokens: int
    total_price: str
    currency: str
    latency: float
    time_to_first_token: float | None
    time_to_generate: float | None


class RetrieverResource(BaseModel):
    """A citation: a dataset segment in the answer's context (the web API omits two fields)."""

    # reference full form, best first; the web API's simple form leaves out retriever_from, doc_metadata

    position: int = Field(description="1, 2, ... in the order of the score")
    dataset_id: str
    dataset_name: str
    document_id: str
    document_name: str
    data_source_type: str = Field(description="`upload_file`")
    segment_id: str
    retriever_from: str = Field(description="`api` (service API) or `web_app`")
    score: float = Field(description="relevance in [0, 1], higher is better")
    hit_count: int = Field(description="how often the segment was retrieved before")
    word_count: int = Field(description="characters in the segment, as the reference counts them")
    segment_position: int = Field(description="1-based position of the segment in its document")
    index_node_hash: str = Field(description="sha256 of the segment's content")
    content: str
    page: None = None
    doc_metadata: None = None
    title: None = None
    files: None = None
    summary: None = None


class Metadata(BaseModel):
    annotation_reply: None = None
    retriever_resources: list[RetrieverResource] = Field(
        description="Citations, when the app retrieves from datasets and `retriever_resource` is enabled; else empty."
    )
    usage: Usage


class CompletionResponse(BaseModel):
    event: Literal["message"]
    task_id: str
    id: str
    message_id: str
    mode: Literal["completion"]
    answer: str
    metadata: Metadata
    created_at: int


class ResultResponse(BaseModel):
    result: Literal["success"]


class ErrorBody(BaseModel):
    code: str
    message: str
    status: int


class MessageEventFrame(BaseModel):
    """`data: {"event": "message", ...}` - one text delta."""

    event: Literal["message"]
    message_id: str
    created_at: int
    task_id: str
    workflow_run_id: None = None
    id: str
    answer: str
    from_variable_selector: None = None


class MessageReplaceEventFrame(BaseModel):
    """`data: {"event": "message_replace", ...}` - output moderation replaced the whole answer so far."""

    # the client replaces everything it has; after a preset no model text follows, after an extension's
    # `overridden` rewrite the stream goes on with more `message` events

    event: Literal["message_replace"]
    message_id: str
    created_at: int
    task_id: str
    workflow_run_id: None = None
    answer: str
    reason: str


class MessageEndEventFrame(BaseModel):
    """`data: {"event": "message_end", ...}` - exactly once on every path that did not fail."""

    event: Literal["message_end"]
    message_id: str
    created_at: int
    task_id: str
    workflow_run_id: None = None
    id: str
    metadata: Metadata
    files: list[dict[str, Any]] | None


class ErrorEventFrame(BaseModel):
    """`data: {"event": "error", ...}` - a failure after the stream opened; the stream then ends."""

    event: Literal["error"]
    message_id: str
    created_at: int
    task_id: str
    code: str
    status: int
    message: str


class PingFrame(BaseModel):
    """`event: ping` with no data line, every `INKWELL_PING_INTERVAL` seconds from the start."""

    event: Literal["ping"]


SSE_FRAMES: tuple[type[BaseModel], ...] = (
    MessageEventFrame,
    MessageReplaceEventFrame,
    MessageEndEventFrame,
    ErrorEventFrame,
    PingFrame,
)
