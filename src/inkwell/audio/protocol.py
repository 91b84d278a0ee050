"""Request and response models of the audio endpoints (also their OpenAPI schemas)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inkwell.http import parse_body


class TextToAudioRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message_id: str | None = Field(default=None, description="A message of this app; its answer is read. Wins.")
    text: str | None = Field(default=None, description="The text to read when no `message_id` is given.")
    voice: str | None = Field(default=None, description="Absent: the app's `text_to_speech.voice`.")
    streaming: bool | None = Field(default=None, description="Accepted and ignored: the audio always streams.")
    user: str | None = Field(default=None, description="End-user identifier (optional).")

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TextToAudioRequest:
        return parse_body(cls, data)


class AudioToTextResponse(BaseModel):
    text: str


class TtsMessageEventFrame(BaseModel):
    """`data: {"event": "tts_message", ...}` - speech while streaming: base64 of an MP3 clip."""

    event: Literal["tts_message"]
    message_id: str
    created_at: int
    task_id: str
    workflow_run_id: None = None
    audio: str


class TtsMessageEndEventFrame(BaseModel):
    """`data: {"event": "tts_message_end", ...}` - after the last `tts_message` (`audio` is empty)."""

    event: Literal["tts_message_end"]
    message_id: str
    created_at: int
    task_id: str
    workflow_run_id: None = None
    audio: Literal[""]
