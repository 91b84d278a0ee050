"""The app configuration: the ``model_config`` block of a Dify DSL file, parsed once per app version.

Only what the pipeline reads is typed; the stored dict stays verbatim so ``/parameters`` can echo it
and an exported app round-trips.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from inkwell.moderation.validate import validate_block
from inkwell.retrieval.config import RetrievalConfig

FORM_TYPES = ("text-input", "paragraph", "select", "number", "checkbox", "external_data_tool")


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    provider: str
    name: str
    mode: Literal["chat", "completion"] = "chat"
    completion_params: dict[str, Any] = Field(default_factory=dict)

    @property
    def provider_key(self) -> str:
        """``langgenius/openai/openai`` -> ``openai``; ``openai`` -> ``openai``."""
        return self.provider.rstrip("/").rsplit("/", 1)[-1]


class FormItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    variable: str
    label: str | dict[str, Any] = ""
    required: bool = False
    max_length: int | None = None
    options: list[str] = Field(default_factory=list)
    default: Any = None
    hide: bool = False

    @field_validator("max_length", mode="before")
    @classmethod
    def _empty_max_length(cls, value: Any) -> Any:
        return None if value in ("", 0) else value


class ChatPromptMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant"] = "user"
    text: str = ""


class FeatureToggle(BaseModel):
    model_config = ConfigDict(extra="allow")

    enabled: bool = False


class AppConfig(BaseModel):
    """Typed view of a completion app's ``model_config``."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    model: ModelSpec
    pre_prompt: str = ""
    prompt_type: Literal["simple", "advanced"] = "simple"
    chat_prompt_messages: list[ChatPromptMessage] = Field(default_factory=list)
    completion_prompt_text: str = ""
    user_input_form: list[FormItem] = Field(default_factory=list)
    dataset_query_variable: str | None = None
    # ``dataset_configs`` (and the legacy ``agent_mode`` dataset tools); None: no enabled dataset
    retrieval: RetrievalConfig | None = None
    retriever_resource: FeatureToggle = Field(default_factory=lambda: FeatureToggle(enabled=True))
    more_like_this: FeatureToggle = Field(default_factory=FeatureToggle)
    speech_to_text: FeatureToggle = Field(default_factory=FeatureToggle)
    sensitive_word_avoidance: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_model_config(cls, raw: dict[str, Any]) -> AppConfig:
        """Parse the DSL ``model_config`` block; raises ``ValueError`` with a readable message."""
        if not isinstance(raw, dict):
            raise ValueError("model_config must be a mapping")
        if not isinstance(raw.get("model"), dict):
            raise ValueError("model_config.model must be a mapping with provider, name and mode")
        data: dict[str, Any] = {
            "model": raw["model"],
            "pre_prompt": raw.get("pre_prompt") or "",
            "prompt_type": raw.get("prompt_type") or "simple",
            "user_input_form": parse_form(raw.get("user_input_form") or []),
            "dataset_query_variable": raw.get("dataset_query_variable") or None,
            "retrieval": RetrievalConfig.of(raw),
        }
        chat_cfg = raw.get("chat_prompt_config") or {}
        if isinstance(chat_cfg, dict):
            data["chat_prompt_messages"] = chat_cfg.get("prompt") or []
        completion_cfg = raw.get("completion_prompt_config") or {}
        if isinstance(completion_cfg, dict):
            prompt = completion_cfg.get("prompt") or {}
            data["completion_prompt_text"] = prompt.get("text", "") if isinstance(prompt, dict) else ""
        moderation = raw.get("sensitive_word_avoidance")
        if isinstance(moderation, dict):
            validate_block(moderation)  # a block the reference would refuse is refused here too
            data["sensitive_word_avoidance"] = moderation
        for key in ("retriever_resource", "more_like_this", "speech_to_text"):
            if isinstance(raw.get(key), dict):
                data[key] = raw[key]
        return cls.model_validate(data)


def parse_form(items: Any) -> list[dict[str, Any]]:
    """``[{"paragraph": {...}}, ...]`` -> ``[{"type": "paragraph", ...}, ...]``."""
    if not isinstance(items, list):
        raise ValueError("user_input_form must be a list")
    parsed: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError("each user_input_form item must be a mapping with exactly one form type key")
        ((form_type, body),) = item.items()
        if form_type not in FORM_TYPES:
            raise ValueError(f"user_input_form type '{form_type}' is not supported in completion apps")
        if not isinstance(body, dict) or not body.get("variable"):
            raise ValueError(f"user_input_form item '{form_type}' needs a variable name")
        parsed.append({**body, "type": form_type})
    return parsed


_FEATURE_DEFAULTS: dict[str, Any] = {
    "suggested_questions_after_answer": {"enabled": False},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": False},
    "retriever_resource": {"enabled": True},
    "annotation_reply": {"enabled": False},
    "more_like_this": {"enabled": False},
}

SYSTEM_PARAMETERS_KEYS = (
    "image_file_size_limit",
    "video_file_size_limit",
    "audio_file_size_limit",
    "file_size_limit",
    "workflow_file_upload_limit",
)


def parameters_view(raw: dict[str, Any], *, image_file_size_limit: int) -> dict[str, Any]:
    """The ``/parameters`` body (reference §1.4), with the moderation config reduced to ``enabled``."""
    out: dict[str, Any] = {
        "opening_statement": raw.get("opening_statement") or None,
        "suggested_questions": list(raw.get("suggested_questions") or []),
    }
    for key, default in _FEATURE_DEFAULTS.items():
        value = raw.get(key)
        out[key] = value if isinstance(value, dict) else dict(default)
    out["user_input_form"] = raw.get("user_input_form") or []
    moderation = raw.get("sensitive_word_avoidance")
    out["sensitive_word_avoidance"] = {
        "enabled": bool(moderation.get("enabled")) if isinstance(moderation, dict) else False
    }
    file_upload = raw.get("file_upload")
    out["file_upload"] = (
        file_upload
        if isinstance(file_upload, dict)
        else {
            "image": {
                "enabled": False,
                "number_limits": 3,
                "detail": "high",
                "transfer_methods": ["remote_url", "local_file"],
            }
        }
    )
    out["system_parameters"] = {
        "image_file_size_limit": image_file_size_limit,
        "video_file_size_limit": 100,
        "audio_file_size_limit": 50,
        "file_size_limit": 15,
        "workflow_file_upload_limit": 10,
    }
    return out
