"""Usage and prices (reference §6.7): ``price = tokens x unit_price x unit``, half-up to 7 decimals.

Every decimal leaves as a fixed-point string: prices with 7 decimals (``"0.0010330"``, never
``"0E-7"``), unit prices and price units at their configured precision (``"0.001"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

SEVEN_PLACES = Decimal("0.0000001")
ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class Pricing:
    input: Decimal
    output: Decimal
    unit: Decimal
    currency: str = "USD"

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Pricing:
        try:
            return cls(
                input=Decimal(str(raw.get("input", "0"))),
                output=Decimal(str(raw.get("output", "0"))),
                unit=Decimal(str(raw.get("unit", "0.001"))),
                currency=str(raw.get("currency", "USD")),
            )
        except ArithmeticError as exc:  # decimal.InvalidOperation
            raise ValueError(f"invalid pricing {raw!r}: {exc}") from None


NO_PRICING = Pricing(input=ZERO, output=ZERO, unit=ZERO)


def fixed(value: Decimal) -> str:
    return format(value, "f")


def price(tokens: int, unit_price: Decimal, unit: Decimal) -> Decimal:
    return (Decimal(tokens) * unit_price * unit).quantize(SEVEN_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    pricing: Pricing
    latency: float
    time_to_first_token: float | None = None
    time_to_generate: float | None = None

    @property
    def prompt_price(self) -> Decimal:
        return price(self.prompt_tokens, self.pricing.input, self.pricing.unit)

    @property
    def completion_price(self) -> Decimal:
        return price(self.completion_tokens, self.pricing.output, self.pricing.unit)

    @property
    def total_price(self) -> Decimal:
        return self.prompt_price + self.completion_price

    def as_dict(self) -> dict[str, Any]:
        """The reference's ``LLMUsage`` keys, in its order."""
        p = self.pricing
        return {
            "prompt_tokens": self.prompt_tokens,
            "prompt_unit_price": fixed(p.input),
            "prompt_price_unit": fixed(p.unit),
            "prompt_price": fixed(self.prompt_price),
            "completion_tokens": self.completion_tokens,
            "completion_unit_price": fixed(p.output),
            "completion_price_unit": fixed(p.unit),
            "completion_price": fixed(self.completion_price),
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "total_price": fixed(self.total_price),
            "currency": p.currency,
            "latency": self.latency,
            "time_to_first_token": self.time_to_first_token,
            "time_to_generate": self.time_to_generate,
        }
