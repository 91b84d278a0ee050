"""Speech-to-text providers behind one interface.

``openai_compatible``: ``POST {base_url}/audio/transcriptions`` (multipart ``file``, ``model``,
``response_format: json``) on the shared upstream client; the answer's ``text`` is the transcript. The
file goes up as ``audio.<ext>`` with the type sniffed from its content, because OpenAI decides the
format by the file name. There is no embedded recogniser: without a configured provider the endpoint
answers 400 ``provider_not_support_speech_to_text``, as the reference does without a speech2text model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx
import orjson

from inkwell.audio.sniff import AudioType
from inkwell.errors import CompletionRequestError
from inkwell.providers.openai_compatible import map_status_error


class SpeechRecognizer(Protocol):
    name: str

    async def transcribe(self, audio: bytes, kind: AudioType) -> str: ...


class RemoteTranscription:
    """Any server speaking OpenAI's ``/audio/transcriptions``."""

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        headers: Mapping[str, str],
        client: httpx.AsyncClient,
        model: str,
        timeout: float,
    ) -> None:
        self.name = name
        self.url = f"{base_url.rstrip('/')}/audio/transcriptions"
        # httpx writes the multipart Content-Type (with its boundary) itself
        self.headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "accept")}
        self.headers["Accept"] = "application/json"
        self.client = client
        self.model = model
        self.timeout = timeout

    async def transcribe(self, audio: bytes, kind: AudioType) -> str:
        try:
            resp = await self.client.post(
                self.url,
                files={"file": (f"audio.{kind.extension}", audio, kind.mime_type)},
                data={"model": self.model, "response_format": "json"},
                headers=self.headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise CompletionRequestError(
                f"[{self.name}] transcription request failed: {type(exc).__name__}: {exc}"
            ) from exc
        if resp.status_code >= 400:
            raise map_status_error(self.name, self.model, resp.status_code, resp.content)
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise CompletionRequestError(f"[{self.name}] upstream sent a malformed transcription") from None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise CompletionRequestError(f"[{self.name}] upstream sent no transcription text")
        return text
