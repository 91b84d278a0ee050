"""An app's retrieval settings, read from the DSL ``model_config`` the way the reference reads them.

    dataset_configs:
      retrieval_model: multiple          # or "single"
      top_k: 4
      score_threshold_enabled: true
      score_threshold: 0.5
      datasets:
        datasets:
          - dataset: {enabled: true, id: 5b1d...}
    dataset_query_variable: question

Only enabled entries count; the legacy form (``agent_mode.enabled`` with ``agent_mode.tools[]``
entries ``{"dataset": {"enabled": true, "id": ...}}``) is read too. Reranking, weights and metadata
filtering keys are accepted and ignored (Inkwell ranks by its full-text score).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

DEFAULT_TOP_K = 4
MAX_TOP_K = 100


class RetrievalConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    dataset_ids: tuple[str, ...]
    strategy: Literal["single", "multiple"] = "multiple"
    top_k: int = DEFAULT_TOP_K
    # None: no threshold (``score_threshold_enabled`` off)
    score_threshold: float | None = None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> RetrievalConfig | None:
        """The settings of a ``model_config`` block; None when it names no enabled dataset.
        Raises ``ValueError`` with a readable message for a malformed block."""
        configs = raw.get("dataset_configs") or {}
        if not isinstance(configs, dict):
            raise ValueError("dataset_configs must be a mapping")
        ids = _dataset_ids(configs, raw.get("agent_mode"))
        strategy = configs.get("retrieval_model") or "multiple"
        if strategy not in ("single", "multiple"):
            raise ValueError(f"dataset_configs.retrieval_model must be 'single' or 'multiple', not {strategy!r}")
        top_k = configs.get("top_k")
        if top_k is None:
            top_k = DEFAULT_TOP_K
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"dataset_configs.top_k must be a whole number from 1 to {MAX_TOP_K}")
        threshold: float | None = None
        if configs.get("score_threshold_enabled"):
            value = configs.get("score_threshold")
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                    raise ValueError("dataset_configs.score_threshold must be a number from 0 to 1")
                threshold = float(value)
        if not ids:
            return None
        return cls(dataset_ids=tuple(ids), strategy=strategy, top_k=top_k, score_threshold=threshold)


def _dataset_ids(configs: dict[str, Any], agent_mode: Any) -> list[str]:
    ids: list[str] = []
    outer = configs.get("datasets") or {}
    if not isinstance(outer, dict):
        raise ValueError("dataset_configs.datasets must be a mapping with a 'datasets' list")
    entries = outer.get("datasets") or []
    if not isinstance(entries, list):
        raise ValueError("dataset_configs.datasets.datasets must be a list")
    for entry in entries:
        if isinstance(entry, dict):
            _add(ids, entry.get("dataset"))
    if isinstance(agent_mode, dict) and agent_mode.get("enabled"):
        tools = agent_mode.get("tools") or []
        for tool in tools if isinstance(tools, list) else []:
            if isinstance(tool, dict) and len(tool) == 1:
                _add(ids, tool.get("dataset"))
    return ids


def _add(ids: list[str], dataset: Any) -> None:
    if not isinstance(dataset, dict) or not dataset.get("enabled"):
        return
    dataset_id = dataset.get("id")
    if not isinstance(dataset_id, str) or not dataset_id:
        raise ValueError("each enabled dataset in dataset_configs needs an 'id'")
    if dataset_id not in ids:
        ids.append(dataset_id)
