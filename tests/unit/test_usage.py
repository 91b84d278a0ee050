"""Usage and price maths (reference §6.7, SPEC §3): half-up to 7 decimals, fixed-point strings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inkwell.completion.usage import NO_PRICING, Pricing, Usage, fixed, price
from tests.conftest import USAGE_KEYS


def usage(prompt_tokens: int, completion_tokens: int, pricing: Pricing, **extra: float | None) -> Usage:
    return Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, pricing=pricing, latency=0.5, **extra
    )


def test_reference_example() -> None:
    pricing = Pricing.parse({"input": "0.001", "output": "0.002", "unit": "0.001", "currency": "USD"})
    body = usage(1033, 200, pricing).as_dict()
    assert body["prompt_price"] == "0.0010330"
    assert body["completion_price"] == "0.0004000"
    assert body["total_price"] == "0.0014330"
    assert body["total_tokens"] == 1233
    assert body["prompt_unit_price"] == "0.001"
    assert body["completion_unit_price"] == "0.002"
    assert body["prompt_price_unit"] == "0.001"
    assert body["completion_price_unit"] == "0.001"
    assert body["currency"] == "USD"


def test_key_order_and_types() -> None:
    body = usage(3, 4, NO_PRICING, time_to_first_token=0.1, time_to_generate=0.2).as_dict()
    assert list(body) == USAGE_KEYS
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert type(body[key]) is int
    for key in USAGE_KEYS[1:4] + USAGE_KEYS[5:8] + ["total_price", "currency"]:
        assert isinstance(body[key], str), key
    assert body["latency"] == 0.5
    assert body["time_to_first_token"] == 0.1
    assert body["time_to_generate"] == 0.2


def test_no_pricing_is_zero_in_fixed_point() -> None:
    body = usage(10, 20, NO_PRICING).as_dict()
    assert body["prompt_price"] == "0.0000000"
    assert body["completion_price"] == "0.0000000"
    assert body["total_price"] == "0.0000000"
    assert body["currency"] == "USD"
    assert body["time_to_first_token"] is None
    assert body["time_to_generate"] is None
    assert "E" not in "".join(str(v) for v in body.values())


@pytest.mark.parametrize(
    ("tokens", "unit_price", "unit", "expected"),
    [
        (1, "0.00000005", "1", "0.0000001"),  # half-up, not half-even (which gives 0.0000000)
        (1, "0.00000025", "1", "0.0000003"),  # half-even would give 0.0000002
        (1, "0.00000015", "1", "0.0000002"),
        (1, "0.000000049", "1", "0.0000000"),
        (1, "0.00001", "0.001", "0.0000000"),  # 1e-8: rounds to zero, still fixed point
        (0, "0.002", "0.001", "0.0000000"),
        (1, "0.001", "0.001", "0.0000010"),
        (1000, "2.5", "0.000001", "0.0025000"),
        (1_000_000_000, "0.01", "0.001", "10000.0000000"),
        (7, "0.0015", "0.001", "0.0000105"),
    ],
)
def test_price_rounds_half_up_to_seven_decimals(tokens: int, unit_price: str, unit: str, expected: str) -> None:
    value = price(tokens, Decimal(unit_price), Decimal(unit))
    assert fixed(value) == expected


def test_total_is_the_sum_of_rounded_sides() -> None:
    pricing = Pricing(input=Decimal("0.00000005"), output=Decimal("0.00000005"), unit=Decimal("1"))
    body = usage(1, 1, pricing).as_dict()
    assert body["prompt_price"] == "0.0000001"
    assert body["completion_price"] == "0.0000001"
    assert body["total_price"] == "0.0000002"


@pytest.mark.parametrize(
    ("raw", "unit_price", "price_unit"),
    [
        ({"input": "0.001", "unit": "0.001"}, "0.001", "0.001"),
        ({"input": 0.001, "unit": 0.001}, "0.001", "0.001"),
        ({"input": "2.50", "unit": "0.000001"}, "2.50", "0.000001"),
        ({"input": 1e-06, "unit": 1e-06}, "0.000001", "0.000001"),
        ({"input": "1E-7", "unit": "1"}, "0.0000001", "1"),
        ({"input": 3, "unit": 1}, "3", "1"),
    ],
)
def test_unit_prices_keep_their_configured_precision(raw: dict[str, object], unit_price: str, price_unit: str) -> None:
    body = usage(1, 1, Pricing.parse(raw)).as_dict()
    assert body["prompt_unit_price"] == unit_price
    assert body["prompt_price_unit"] == price_unit
    assert "E" not in body["prompt_unit_price"] + body["prompt_price_unit"]


def test_pricing_defaults() -> None:
    pricing = Pricing.parse({})
    assert pricing == Pricing(input=Decimal("0"), output=Decimal("0"), unit=Decimal("0.001"), currency="USD")
    assert Pricing.parse({"currency": "EUR"}).currency == "EUR"


def test_pricing_rejects_non_numbers() -> None:
    with pytest.raises(ValueError, match="invalid pricing"):
        Pricing.parse({"input": "cheap"})


def test_fixed_never_uses_exponents() -> None:
    assert fixed(Decimal("0E-7")) == "0.0000000"
    assert fixed(Decimal("1E-7")) == "0.0000001"
    assert fixed(Decimal("1.0E+3")) == "1000"
