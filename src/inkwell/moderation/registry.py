"""Which moderation an app gets, and where the I/O types send their checks.

Both come from the providers file (``INKWELL_PROVIDERS_FILE``), beside its ``providers:`` section::

    providers:
      openai: {type: openai_compatible, base_url: https://api.openai.com/v1, api_key_env: OPENAI_API_KEY}
    moderation:                     # what ``openai_moderation`` apps call (all optional)
      provider: openai              # an openai_compatible provider: its base_url, key and headers
      model: omni-moderation-latest
      timeout: 10                   # seconds per check (default INKWELL_MODERATION_TIMEOUT)
    extensions:                     # API-based extensions, by the id a DSL's api_based_extension_id names
      5b2c1a3e-0000-4000-8000-000000000001:
        name: content-filter        # optional, for messages and logs
        api_endpoint: https://filter.internal/moderation
        api_key_env: CONTENT_FILTER_KEY   # or api_key: "..." (sent as Authorization: Bearer <key>)
        timeout: 10

Without a ``moderation`` section ``openai_moderation`` uses the provider named ``openai`` (the
``INKWELL_OPENAI_*`` shortcut or a providers-file entry) with ``omni-moderation-latest``, as the
reference uses the workspace's OpenAI credentials. An app that names a moderation service that is not
configured is refused with 400 ``invalid_param`` (fail closed) instead of running unmoderated.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from inkwell.moderation.api import ApiModeration, Extension
from inkwell.moderation.base import Moderation, ModerationFailed
from inkwell.moderation.keywords import KeywordModeration
from inkwell.moderation.openai import DEFAULT_MODEL, OpenAIModeration
from inkwell.providers.registry import (
    ProviderConfigError,
    ProviderRegistry,
    positive_seconds,
    read_sections,
    upstream_headers,
)
from inkwell.settings import Settings


@dataclass(frozen=True, slots=True)
class OpenAIEndpoint:
    provider: str
    base_url: str
    headers: dict[str, str]
    model: str
    timeout: float


def parse_extensions(raw: Any, default_timeout: float) -> dict[str, Extension]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProviderConfigError("extensions must map extension ids to settings")
    extensions: dict[str, Extension] = {}
    for ext_id, spec in raw.items():
        where = f"extensions.{ext_id}"
        if not isinstance(spec, dict):
            raise ProviderConfigError(f"{where} must be a mapping")
        endpoint = spec.get("api_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ProviderConfigError(f"{where}.api_endpoint must be an http(s) URL")
        api_key = spec.get("api_key")
        if spec.get("api_key_env"):
            api_key = os.environ.get(str(spec["api_key_env"])) or api_key
        extensions[str(ext_id)] = Extension(
            id=str(ext_id),
            name=str(spec.get("name") or ext_id),
            api_endpoint=endpoint,
            api_key=str(api_key) if api_key else None,
            timeout=positive_seconds(spec, where, default_timeout),
        )
    return extensions


def openai_endpoint(raw: Any, providers: ProviderRegistry, default_timeout: float) -> OpenAIEndpoint | None:
    if raw is not None and not isinstance(raw, dict):
        raise ProviderConfigError("moderation must be a mapping (provider, model, timeout)")
    spec: dict[str, Any] = raw or {}
    name = str(spec.get("provider") or "openai")
    if raw is None and name not in providers.providers:
        return None  # no moderation section and no provider named openai: openai_moderation is refused
    provider = providers.openai_compatible(name, "moderation")
    return OpenAIEndpoint(
        provider=name,
        base_url=provider.base_url,
        headers=upstream_headers(provider),
        model=str(spec.get("model") or DEFAULT_MODEL),
        timeout=positive_seconds(spec, "moderation", default_timeout),
    )


class ModerationRegistry:
    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        openai: OpenAIEndpoint | None = None,
        extensions: Mapping[str, Extension] | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.client = client
        self.openai = openai
        self.extensions = dict(extensions or {})
        self.connect_timeout = connect_timeout

    @classmethod
    def from_settings(cls, settings: Settings, providers: ProviderRegistry) -> ModerationRegistry:
        moderation, extensions = read_sections(settings.providers_file, "moderation", "extensions")
        return cls(
            client=providers.http,
            openai=openai_endpoint(moderation, providers, settings.moderation_timeout),
            extensions=parse_extensions(extensions, settings.moderation_timeout),
            connect_timeout=settings.upstream_connect_timeout,
        )

    def for_app(self, raw: Any) -> Moderation | None:
        """The app's moderation (``sensitive_word_avoidance``), or None when it is off. Raises
        ``ModerationFailed`` when it names a service this server does not have."""
        if not isinstance(raw, dict) or not raw.get("enabled"):
            return None
        kind = raw.get("type")
        config: dict[str, Any] = raw["config"] if isinstance(raw.get("config"), dict) else {}
        try:
            if kind == "keywords":
                return KeywordModeration.of(raw)
            if kind == "openai_moderation":
                inputs_preset, outputs_preset = OpenAIModeration.presets(config)
                return self._openai(inputs_preset, outputs_preset)
            if kind == "api":
                inputs_preset, outputs_preset = ApiModeration.presets(config)
                return self._api(str(config.get("api_based_extension_id") or ""), inputs_preset, outputs_preset)
        except ValueError as exc:
            raise ModerationFailed(f"sensitive_word_avoidance: {exc}") from None
        raise ModerationFailed(f"sensitive_word_avoidance.type {kind!r} is not supported")

    def _openai(self, inputs_preset: str | None, outputs_preset: str | None) -> OpenAIModeration:
        if self.openai is None or self.client is None:
            raise ModerationFailed(
                "openai_moderation is not configured on this server: set INKWELL_OPENAI_BASE_URL or a "
                "moderation provider in the providers file"
            )
        endpoint = self.openai
        return OpenAIModeration(
            client=self.client,
            base_url=endpoint.base_url,
            headers=endpoint.headers,
            model=endpoint.model,
            inputs_preset=inputs_preset,
            outputs_preset=outputs_preset,
            timeout=endpoint.timeout,
            connect_timeout=self.connect_timeout,
            provider=endpoint.provider,
        )

    def _api(self, extension_id: str, inputs_preset: str | None, outputs_preset: str | None) -> ApiModeration:
        extension = self.extensions.get(extension_id)
        if extension is None or self.client is None:
            raise ModerationFailed(f"API-based extension {extension_id!r} is not configured on this server")
        return ApiModeration(
            client=self.client,
            extension=extension,
            inputs_preset=inputs_preset,
            outputs_preset=outputs_preset,
            connect_timeout=self.connect_timeout,
        )
