"""``api``: an API-based extension decides, with the reference protocol.

    POST <api_endpoint>        Authorization: Bearer <api_key>, Content-Type: application/json
    {"point": "app.moderation.input",  "params": {"app_id": ..., "inputs": {...}, "query": "..."}}
      -> {"flagged": bool, "action": "direct_output" | "overridden", "preset_response": "...",
          "inputs": {...}, "query": "..."}
    {"point": "app.moderation.output", "params": {"app_id": ..., "text": "..."}}
      -> {"flagged": bool, "action": "direct_output" | "overridden", "preset_response": "...", "text": "..."}

Anything but a 200 with such an object (down, timed out, another status, not JSON, a flagged answer
without a known ``action``) is a ``ModerationFailed``. A flagged ``direct_output`` without a
``preset_response`` answers the app's configured preset for that side (if any), else a fixed text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from inkwell.moderation.base import (
    InputVerdict,
    ModerationAction,
    ModerationFailed,
    OutputVerdict,
    PresetSides,
    side_presets,
)
from inkwell.moderation.remote import post_json

POINT_INPUT = "app.moderation.input"
POINT_OUTPUT = "app.moderation.output"
SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True, slots=True)
class Extension:
    """One API-based extension from the providers file's ``extensions`` section."""

    id: str
    name: str
    api_endpoint: str
    api_key: str | None
    timeout: float  # seconds for the whole exchange


class ApiModeration(PresetSides):
    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        extension: Extension,
        inputs_preset: str | None,
        outputs_preset: str | None,
        connect_timeout: float,
    ) -> None:
        self.client = client
        self.extension = extension
        self.inputs_preset = inputs_preset  # None: input side off; "" on: the extension answers the preset
        self.outputs_preset = outputs_preset
        self.connect_timeout = connect_timeout
        self.headers = {"Authorization": f"Bearer {extension.api_key}"} if extension.api_key else {}
        self.service = f"API-based extension {extension.name}"

    @staticmethod
    def presets(config: Mapping[str, Any]) -> tuple[str | None, str | None]:
        return side_presets(config, required=False)

    async def _call(self, point: str, params: dict[str, Any]) -> tuple[bool, ModerationAction, str, dict[str, Any]]:
        data = await post_json(
            self.client,
            self.extension.api_endpoint,
            {"point": point, "params": params},
            headers=self.headers,
            seconds=self.extension.timeout,
            connect_timeout=self.connect_timeout,
            service=self.service,
        )
        flagged = data.get("flagged", False)
        if not isinstance(flagged, bool):
            raise ModerationFailed(f"{self.service}: 'flagged' must be a boolean")
        preset = data.get("preset_response") or ""
        if not isinstance(preset, str):
            raise ModerationFailed(f"{self.service}: 'preset_response' must be a string")
        action = ModerationAction.DIRECT_OUTPUT
        if flagged:
            try:
                action = ModerationAction(str(data.get("action")))
            except ValueError:
                raise ModerationFailed(
                    f"{self.service}: 'action' must be 'direct_output' or 'overridden', not {data.get('action')!r}"
                ) from None
        return flagged, action, preset, data

    async def moderate_inputs(self, app_id: str, inputs: Mapping[str, Any], query: str) -> InputVerdict:
        if self.inputs_preset is None:
            return InputVerdict()
        flagged, action, preset, data = await self._call(
            POINT_INPUT, {"app_id": app_id, "inputs": dict(inputs), "query": query}
        )
        if not flagged:
            return InputVerdict()
        if action is ModerationAction.DIRECT_OUTPUT:
            return InputVerdict(flagged=True, action=action, preset_response=preset or self.inputs_preset)
        new_inputs = data.get("inputs")
        if new_inputs is not None and (
            not isinstance(new_inputs, dict) or not all(isinstance(v, SCALARS) for v in new_inputs.values())
        ):
            raise ModerationFailed(f"{self.service}: overridden 'inputs' must be an object of plain values")
        new_query = data.get("query")
        if new_query is not None and not isinstance(new_query, str):
            raise ModerationFailed(f"{self.service}: overridden 'query' must be a string")
        return InputVerdict(flagged=True, action=action, inputs=new_inputs, query=new_query)

    async def moderate_output(self, app_id: str, text: str) -> OutputVerdict:
        if self.outputs_preset is None:
            return OutputVerdict()
        flagged, action, preset, data = await self._call(POINT_OUTPUT, {"app_id": app_id, "text": text})
        if not flagged:
            return OutputVerdict()
        if action is ModerationAction.DIRECT_OUTPUT:
            return OutputVerdict(flagged=True, action=action, preset_response=preset or self.outputs_preset)
        new_text = data.get("text")
        if not isinstance(new_text, str):
            raise ModerationFailed(f"{self.service}: overridden 'text' must be a string")
        return OutputVerdict(flagged=True, action=action, text=new_text)
