"""Input-form validation (reference §6.6 with the fixes of SPEC §6.3).

Fixes over the reference: required fields reject empty strings; configured defaults fill missing
optional inputs; missing optional inputs are ``""`` (never ``"None"``); an empty optional ``select``
counts as missing; non-scalar values for scalar fields are a 400, never a 500; NUL bytes are stripped.
"""

from __future__ import annotations

import math
from typing import Any

from inkwell.apps.config import FormItem
from inkwell.errors import InvalidParam

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_STRING_TYPES = ("text-input", "paragraph", "select")


def strip_nul(value: str) -> str:
    return value.replace("\x00", "") if "\x00" in value else value


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _number(item: FormItem, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidParam(f"{item.variable} in input form must be a valid number")
    if isinstance(value, int | float):
        return value
    text = value.strip()
    try:
        number = float(text) if "." in text or "e" in text.lower() else int(text)
    except ValueError:
        raise InvalidParam(f"{item.variable} in input form must be a valid number") from None
    if isinstance(number, float) and not math.isfinite(number):  # "1e999": not JSON, not storable
        raise InvalidParam(f"{item.variable} in input form must be a valid number")
    return number


def _checkbox(item: FormItem, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise InvalidParam(f"(type 'checkbox') {item.variable} in input form must be a boolean")


def _one(item: FormItem, value: Any) -> Any:
    if item.type in _STRING_TYPES:
        if not isinstance(value, str):
            raise InvalidParam(f"(type '{item.type}') {item.variable} in input form must be a string")
        value = strip_nul(value)
        if item.type == "select" and item.options and value not in item.options:
            raise InvalidParam(f"{item.variable} in input form must be one of the following: {item.options!r}")
        if item.type != "select" and item.max_length is not None and len(value) > item.max_length:
            raise InvalidParam(f"{item.variable} in input form must be less than {item.max_length} characters")
        return value
    if item.type == "number":
        return _number(item, value)
    if item.type == "checkbox":
        return _checkbox(item, value)
    # external_data_tool: filled server-side; a client value must at least be a scalar
    if isinstance(value, dict | list):
        raise InvalidParam(f"Invalid input type for ['{item.variable}']")
    return strip_nul(value) if isinstance(value, str) else value


def validate_inputs(form: list[FormItem], inputs: dict[str, Any], query: str) -> dict[str, Any]:
    """Return the clean inputs: declared variables only, each validated, defaults applied.

    Missing optional values are ``""`` so every declared variable renders; the request's legacy
    ``query`` fills a declared ``query`` variable that ``inputs`` leaves out.
    """
    clean: dict[str, Any] = {}
    for item in form:
        name = item.variable
        value = inputs.get(name)
        if isinstance(value, str):
            value = strip_nul(value)  # before the required check: "\x00" alone is an empty value
        if name == "query" and _is_missing(value) and query:
            value = query
        if _is_missing(value) and not isinstance(value, bool):
            if item.required:
                raise InvalidParam(f"{name} is required in input form")
            default = item.default
            if _is_missing(default):
                clean[name] = ""
                continue
            value = default
        clean[name] = _one(item, value)
    return clean
