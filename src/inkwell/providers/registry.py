"""Which providers exist: the built-in model, the ``INKWELL_OPENAI_*`` shortcut, the providers file.

Providers file (``INKWELL_PROVIDERS_FILE``), YAML::

    providers:                      # optional wrapper; a bare mapping works too
      openai:                       # the name a DSL ``model.provider`` refers to
        type: openai_compatible
        base_url: https://api.openai.com/v1
        api_key_env: OPENAI_API_KEY # the key is read from this environment variable
        models:
          gpt-4o-mini:
            pricing: {input: "0.00015", output: "0.0006", unit: "0.001", currency: USD}

A DSL provider ``langgenius/openai/openai`` and ``openai`` both mean the provider named ``openai``.
Beside ``providers:`` the file may hold ``moderation:`` and ``extensions:`` sections, read by
``inkwell.moderation.registry``, and ``text_to_speech:`` / ``speech_to_text:``, read by
``inkwell.audio.config`` (both through ``read_sections``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from inkwell.apps.config import ModelSpec
from inkwell.completion.usage import Pricing
from inkwell.errors import ProviderNotInitialize
from inkwell.providers.base import ModelInfo, Provider
from inkwell.providers.builtin import BuiltinProvider
from inkwell.providers.openai_compatible import OpenAICompatibleProvider, create_http_client
from inkwell.settings import Settings

PROVIDER_TYPES = ("openai_compatible", "builtin")


class ProviderConfigError(ValueError):
    pass


def _models(raw: Any, where: str) -> dict[str, ModelInfo]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProviderConfigError(f"{where}.models must be a mapping of model name to settings")
    models: dict[str, ModelInfo] = {}
    for name, spec in raw.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise ProviderConfigError(f"{where}.models.{name} must be a mapping")
        pricing = spec.get("pricing")
        try:
            models[str(name)] = (
                ModelInfo(name=str(name), pricing=Pricing.parse(pricing))
                if isinstance(pricing, dict)
                else ModelInfo(name=str(name))
            )
        except ValueError as exc:
            raise ProviderConfigError(f"{where}.models.{name}.pricing: {exc}") from None
    return models


def load_providers_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProviderConfigError(f"cannot read providers file {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("providers"), dict):
        data = data["providers"]
    if not isinstance(data, dict):
        raise ProviderConfigError(f"providers file {path} must map provider names to settings")
    return {str(k): v for k, v in data.items()}


def read_sections(path: Path | None, *names: str) -> tuple[Any, ...]:
    """The named sections beside ``providers:`` in a providers file, each None when absent (or when
    there is no file, or it is the bare form: providers only, with no room for other sections)."""
    if path is None:
        return (None,) * len(names)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ProviderConfigError(f"cannot read providers file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("providers"), dict):
        return (None,) * len(names)
    return tuple(data.get(name) for name in names)


def positive_seconds(spec: Mapping[str, Any], where: str, default: float) -> float:
    """A section's ``timeout`` (seconds, > 0), or ``default`` when it has none."""
    value = spec.get("timeout", default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ProviderConfigError(f"{where}.timeout must be a positive number of seconds")
    return float(value)


def upstream_headers(provider: OpenAICompatibleProvider) -> dict[str, str]:
    """The provider's headers (key, extra headers) without ``Accept`` / ``Content-Type``, for a caller
    that sends another kind of body than chat completions."""
    return {k: v for k, v in provider.headers.items() if k.lower() not in ("accept", "content-type")}


class ProviderRegistry:
    def __init__(self, settings: Settings) -> None:
        self.http = create_http_client(
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
            max_connections=settings.upstream_max_connections,
        )
        builtin = BuiltinProvider(ttft_ms=settings.builtin_ttft_ms, token_delay_ms=settings.builtin_token_delay_ms)
        self.providers: dict[str, Provider] = {"builtin": builtin}
        if settings.openai_base_url:
            self.providers["openai"] = OpenAICompatibleProvider(
                name="openai",
                base_url=settings.openai_base_url,
                api_key=settings.openai_api_key,
                client=self.http,
            )
        if settings.providers_file:
            for name, spec in load_providers_file(settings.providers_file).items():
                self.providers[name] = self._build(name, spec, builtin)

    def _build(self, name: str, spec: Any, builtin: BuiltinProvider) -> Provider:
        where = f"providers.{name}"
        if not isinstance(spec, dict):
            raise ProviderConfigError(f"{where} must be a mapping")
        kind = spec.get("type", "openai_compatible")
        if kind == "builtin":
            return builtin
        if kind != "openai_compatible":
            raise ProviderConfigError(f"{where}.type must be one of {', '.join(PROVIDER_TYPES)}, not {kind!r}")
        base_url = spec.get("base_url")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ProviderConfigError(f"{where}.base_url must be an http(s) URL")
        api_key = spec.get("api_key")
        key_env = spec.get("api_key_env")
        if key_env:
            api_key = os.environ.get(str(key_env)) or api_key
        headers = spec.get("headers") or {}
        return OpenAICompatibleProvider(
            name=name,
            base_url=base_url,
            api_key=str(api_key) if api_key else None,
            client=self.http,
            models=_models(spec.get("models"), where),
            extra_headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else None,
        )

    def openai_compatible(self, name: str, where: str) -> OpenAICompatibleProvider:
        """The provider ``name`` that a section (``where``) names, which must be ``openai_compatible``."""
        provider = self.providers.get(name)
        if provider is None:
            raise ProviderConfigError(f"{where}.provider {name!r} is not a configured provider")
        if not isinstance(provider, OpenAICompatibleProvider):
            raise ProviderConfigError(f"{where}.provider {name!r} must be an openai_compatible provider")
        return provider

    @property
    def uses_tokenizer(self) -> bool:
        """Whether a provider here may need tokenizer counts (upstreams that report no usage)."""
        return any(isinstance(p, OpenAICompatibleProvider) for p in self.providers.values())

    def resolve(self, spec: ModelSpec) -> tuple[Provider, ModelInfo]:
        provider = self.providers.get(spec.provider_key)
        if provider is None:
            raise ProviderNotInitialize(f"Model {spec.name} credentials is not initialized.")
        return provider, provider.model(spec.name)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.http.aclose()
