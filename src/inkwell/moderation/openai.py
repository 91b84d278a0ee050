"""``openai_moderation``: an OpenAI-compatible ``POST {base_url}/moderations`` decides.

The text sent is the real text - every non-empty input value and the query, one per line (the
reference sends the characters of a ``dict_values`` repr). Long texts go as an array of pieces of at
most ``CHUNK_CHARS`` characters, as the reference's moderation model does; the text is flagged when
any result is. A hit is always ``direct_output`` with the app's preset response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from inkwell.moderation.base import (
    InputVerdict,
    ModerationFailed,
    OutputVerdict,
    PresetSides,
    input_texts,
    side_presets,
)
from inkwell.moderation.remote import post_json

DEFAULT_MODEL = "omni-moderation-latest"
CHUNK_CHARS = 2000


class OpenAIModeration(PresetSides):
    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str,
        headers: Mapping[str, str],
        model: str,
        inputs_preset: str | None,
        outputs_preset: str | None,
        timeout: float,
        connect_timeout: float,
        provider: str,
    ) -> None:
        self.client = client
        self.url = f"{base_url.rstrip('/')}/moderations"
        self.headers = dict(headers)
        self.model = model
        self.inputs_preset = inputs_preset
        self.outputs_preset = outputs_preset
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.service = f"openai_moderation [{provider}]"

    @staticmethod
    def presets(config: Mapping[str, Any]) -> tuple[str | None, str | None]:
        return side_presets(config, required=True)

    async def moderate_inputs(self, app_id: str, inputs: Mapping[str, Any], query: str) -> InputVerdict:
        if self.inputs_preset is None:
            return InputVerdict()
        if await self.flagged("\n".join(input_texts(inputs, query))):
            return InputVerdict(flagged=True, preset_response=self.inputs_preset)
        return InputVerdict()

    async def moderate_output(self, app_id: str, text: str) -> OutputVerdict:
        if self.outputs_preset is None:
            return OutputVerdict()
        if await self.flagged(text):
            return OutputVerdict(flagged=True, preset_response=self.outputs_preset)
        return OutputVerdict()

    async def flagged(self, text: str) -> bool:
        if not text.strip():
            return False
        pieces = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]
        payload = {"model": self.model, "input": pieces[0] if len(pieces) == 1 else pieces}
        data = await post_json(
            self.client,
            self.url,
            payload,
            headers=self.headers,
            seconds=self.timeout,
            connect_timeout=self.connect_timeout,
            service=self.service,
        )
        results = data.get("results")
        if not isinstance(results, list) or not results or not all(isinstance(r, dict) for r in results):
            raise ModerationFailed(f"{self.service}: the response has no results")
        flags = [r.get("flagged") for r in results]
        if not all(isinstance(f, bool) for f in flags):
            raise ModerationFailed(f"{self.service}: a result has no boolean 'flagged'")
        return any(flags)
