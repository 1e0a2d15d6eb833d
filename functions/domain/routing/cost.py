"""What a completion costs, and whether the monthly AI budget still admits an operation.

Prices are USD per million tokens (input, output), list prices of the providers' on-demand tiers when
this table was written. They are configuration, not truth: a deployment overrides any of them (and the
fallback for unknown models) with `PriceTable.from_config`, e.g. from a JSON setting. The Llama API
(Meta) does not publish per-token prices; its entry uses the common hosted price of Llama 4 Maverick.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

from functions.domain.errors import BudgetExceeded
from functions.domain.names import MCP
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType, Priority
from functions.domain.thresholds import BUDGET_REFUSE_PERCENT, BUDGET_WARN_PERCENT

Price = tuple[float, float]  # USD per 1M tokens: (input, output)

PRICES_PER_MILLION_TOKENS: Mapping[str, Price] = MappingProxyType(
    {
        # Bedrock
        "anthropic.claude-3-haiku-20240307-v1:0": (0.25, 1.25),
        "anthropic.claude-3-5-sonnet-20240620-v1:0": (3.0, 15.0),
        "meta.llama3-70b-instruct-v1:0": (2.65, 3.5),
        # Google
        "gemini-2.0-flash": (0.10, 0.40),
        # Meta (Llama API)
        "Llama-4-Maverick-17B-128E-Instruct-FP8": (0.27, 0.85),
        # Provider defaults, used when the model is not listed: MCP runs on our own infrastructure.
        MCP: (0.0, 0.0),
    }
)
# Unknown models are priced like a large model, so an unlisted one can never hide spend.
FALLBACK_PRICE: Price = (3.0, 15.0)
FALLBACK_KEY = "*"  # in an override mapping, replaces the fallback price

# Bedrock cross-region inference profiles prefix the model id ("us.anthropic.claude-...").
_REGION_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "global.")


def _price(name: str, value: Any) -> Price:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) and v >= 0 for v in value)
    ):
        raise ValueError(f"price of {name!r} must be [input, output] USD per 1M tokens, two numbers >= 0")
    return (float(value[0]), float(value[1]))


class PriceTable:
    """The defaults plus overrides. Lookup: the model, the model without a Bedrock region prefix, the
    provider's default, then the fallback."""

    def __init__(self, overrides: Mapping[str, Any] | None = None, fallback: Price = FALLBACK_PRICE) -> None:
        overrides = dict(overrides or {})
        self.fallback = _price(FALLBACK_KEY, overrides.pop(FALLBACK_KEY, fallback))
        self._prices: dict[str, Price] = dict(PRICES_PER_MILLION_TOKENS)
        self._prices.update({name: _price(name, value) for name, value in overrides.items()})

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> PriceTable:
        """From a parsed JSON object such as `{"gemini-2.0-flash": [0.1, 0.4], "*": [5, 20]}`;
        raises ValueError on a malformed entry, so a bad setting fails at start-up, not per request."""
        if config is not None and not isinstance(config, Mapping):
            raise ValueError("price overrides must be a JSON object of model -> [input, output]")
        return cls(config)

    def price(self, model: str, provider: str | None = None) -> Price:
        known = self._lookup(model, provider)
        return self.fallback if known is None else known

    def is_known(self, model: str, provider: str | None = None) -> bool:
        return self._lookup(model, provider) is not None

    def _lookup(self, model: str, provider: str | None) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        for prefix in _REGION_PREFIXES:
            if model.startswith(prefix) and model[len(prefix) :] in self._prices:
                return self._prices[model[len(prefix) :]]
        return self._prices.get(provider) if provider is not None else None

    def cost_usd(self, model: str, input_tokens: int, output_tokens: int, provider: str | None = None) -> float:
        if input_tokens < 0 or output_tokens < 0:
            raise ValueError("token counts cannot be negative")
        input_price, output_price = self.price(model, provider)
        return (input_tokens * input_price + output_tokens * output_price) / 1_000_000


BudgetLevel = Literal["ok", "warning", "exhausted"]
_PAUSABLE = frozenset({Priority.MEDIUM, Priority.LOW})


class BudgetPolicy:
    """A monthly budget in USD (None: no budget, everything admitted). At BUDGET_REFUSE_PERCENT,
    medium- and low-priority operations are refused; critical and high-priority ones always run."""

    def __init__(
        self,
        monthly_budget_usd: float | None,
        warn_percent: float = BUDGET_WARN_PERCENT,
        refuse_percent: float = BUDGET_REFUSE_PERCENT,
    ) -> None:
        if monthly_budget_usd is not None and not (math.isfinite(monthly_budget_usd) and monthly_budget_usd > 0):
            raise ValueError("the monthly budget must be a positive number of USD, or None for no budget")
        if not 0 < warn_percent <= refuse_percent:
            raise ValueError("budget percentages must satisfy 0 < warn <= refuse")
        self.monthly_budget_usd = monthly_budget_usd
        self.warn_percent, self.refuse_percent = warn_percent, refuse_percent

    def utilization(self, spent_usd: float) -> float:
        """Percent of the month's budget spent (0 and up; over 100 when overspent); 0 with no budget."""
        if self.monthly_budget_usd is None:
            return 0.0
        return max(0.0, spent_usd) / self.monthly_budget_usd * 100.0

    def level(self, spent_usd: float) -> BudgetLevel:
        used = self.utilization(spent_usd)
        if used >= self.refuse_percent:
            return "exhausted"
        return "warning" if used >= self.warn_percent else "ok"

    def admit(self, operation: OperationType, spent_usd: float) -> None:
        """Raise BudgetExceeded for a medium- or low-priority operation once the budget is exhausted."""
        if ROUTING_MATRIX[operation].priority not in _PAUSABLE:
            return
        used = self.utilization(spent_usd)
        if used >= self.refuse_percent:
            raise BudgetExceeded(
                f"monthly AI budget {used:.1f} % used (>= {self.refuse_percent:g} %): {operation.value} operations "
                "are paused; emergency, infrastructure and high-priority operations continue"
            )
