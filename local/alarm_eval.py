"""CloudWatch's metric-alarm semantics as pure functions (period aggregation, metric math, M of N with
missing-data treatment, the state reason), as the CloudWatch user guide documents them; callers pass `now`
and the raw samples."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from functions.domain.alarms.definitions import AlarmDefinition, MetricQuery
from functions.domain.errors import InvalidRequest

OK: Final = "OK"
ALARM: Final = "ALARM"
INSUFFICIENT_DATA: Final = "INSUFFICIENT_DATA"
STATES: Final = (OK, ALARM, INSUFFICIENT_DATA)

MISSING: Final = "missing"
IGNORE: Final = "ignore"
BREACHING: Final = "breaching"
NOT_BREACHING: Final = "notBreaching"
TREATMENTS: Final = (MISSING, IGNORE, BREACHING, NOT_BREACHING)

COMPARISONS: Final[dict[str, tuple[Callable[[float, float], bool], str]]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
SIMPLE_STATISTICS: Final = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
# The guide's example retrieves 5 datapoints for 3 evaluation periods ("CloudWatch retrieves the 5
# most recent data points"); the exact number "depends on the length of the alarm period", so the
# local evaluator keeps the documented N + 2.
EVALUATION_RANGE_EXTRA_PERIODS: Final = 2
INITIAL_REASON: Final = "Unchecked: Initial alarm creation"

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


class InvalidAlarmDefinition(InvalidRequest):
    """An alarm definition the evaluator cannot evaluate (unknown statistic, bad expression, ...)."""


# --- definitions -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AlarmRule:
    """What a metric alarm evaluates: its metrics (`id` names each in the expression), and the
    expression over them (None: the single metric is the alarm's series)."""

    name: str
    metrics: tuple[MetricQuery, ...]
    threshold: float
    comparison: str
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: str = MISSING
    expression: str | None = None
    evaluate_low_sample_count_percentile: str | None = None

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise InvalidAlarmDefinition(f"{self.name}: unsupported comparison {self.comparison!r}")
        if self.treat_missing_data not in TREATMENTS:
            raise InvalidAlarmDefinition(f"{self.name}: unsupported missing-data treatment {self.treat_missing_data!r}")
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise InvalidAlarmDefinition(f"{self.name}: datapoints to alarm must be within 1..evaluation periods")
        if self.period_s <= 0:
            raise InvalidAlarmDefinition(f"{self.name}: period must be positive")
        if self.expression is None and len(self.metrics) != 1:
            raise InvalidAlarmDefinition(f"{self.name}: an alarm without an expression watches exactly one metric")
        for metric in self.metrics:
            check_statistic(metric.statistic)
        if self.expression is not None:
            parse_expression(self.expression)

    @property
    def range_periods(self) -> int:
        return self.evaluation_periods + EVALUATION_RANGE_EXTRA_PERIODS


def rule_of(definition: AlarmDefinition, prefix: str) -> AlarmRule:
    """The evaluator's view of one of the stack's alarm definitions (functions/domain/alarms/definitions.py)."""
    return AlarmRule(
        name=definition.name(prefix),
        metrics=definition.queries,
        threshold=definition.threshold,
        comparison=definition.comparison,
        period_s=definition.period_s,
        evaluation_periods=definition.evaluation_periods,
        datapoints_to_alarm=definition.datapoints_to_alarm,
        treat_missing_data=definition.treat_missing_data,
        expression=None if definition.ratio is None else definition.ratio.expression(),
    )


# --- statistics --------------------------------------------------------------------------------
def check_statistic(statistic: str) -> None:
    if statistic not in SIMPLE_STATISTICS and not _PERCENTILE.match(statistic):
        raise InvalidAlarmDefinition(f"unsupported statistic {statistic!r}")


def aggregate(values: Sequence[float], statistic: str) -> float | None:
    """One period's datapoint from its raw values; None when the period has no values (missing)."""
    check_statistic(statistic)
    if not values:
        return None
    if statistic == "SampleCount":
        return float(len(values))
    if statistic == "Sum":
        return math.fsum(values)
    if statistic == "Average":
        return math.fsum(values) / len(values)
    if statistic == "Minimum":
        return min(values)
    if statistic == "Maximum":
        return max(values)
    return percentile(sorted(values), float(statistic[1:]))


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest rank: the smallest value with at least `pct` % of the values at or below it."""
    rank = max(1, math.ceil(len(ordered) * pct / 100))
    return ordered[rank - 1]


def low_sample_count(values: Sequence[float], statistic: str) -> bool:
    """Percentile-based alarms and low data samples: for p between 0.5 and 1, fewer than
    10 / (1 - p) values; for p below 0.5, fewer than 10 / p."""
    if not _PERCENTILE.match(statistic):
        return False
    p = float(statistic[1:]) / 100
    if p >= 1.0:
        return True
    needed = 10 / (1 - p) if p >= 0.5 else 10 / p
    return len(values) < needed


# --- metric math -------------------------------------------------------------------------------
Series = dict[int, float]  # period index -> value; an absent index is a missing datapoint
Value = Series | float


@dataclass(frozen=True, slots=True)
class _Node:
    kind: str  # num | id | unary | binary | call | array
    value: object = None
    args: tuple[_Node, ...] = ()


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)|(?P<id>[a-z][A-Za-z0-9_]*)|(?P<func>[A-Z][A-Z0-9_]*)"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[-+*/^(),<>\[\]]))"
)
_BINARY_LEVELS: Final = (("OR", "||"), ("AND", "&&"), ("==", "!=", "<=", ">=", "<", ">"), ("+", "-"), ("*", "/"))
_FUNCTIONS: Final = ("IF", "FILL", "ABS", "SUM", "AVG", "MIN", "MAX", "PERIOD")


def _tokens(expression: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise InvalidAlarmDefinition(f"cannot parse expression {expression!r} at {text[pos:]!r}")
        kind = match.lastgroup or ""
        token = match.group(kind)
        if kind == "func" and token in ("AND", "OR"):
            kind = "op"
        out.append((kind, token))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression, self.tokens, self.pos = expression, _tokens(expression), 0

    def parse(self) -> _Node:
        node = self._binary(0)
        if self.pos != len(self.tokens):
            raise InvalidAlarmDefinition(f"unexpected {self.tokens[self.pos][1]!r} in {self.expression!r}")
        return node

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, token: str) -> None:
        if self._peek() is None or self.tokens[self.pos][1] != token:
            raise InvalidAlarmDefinition(f"expected {token!r} in {self.expression!r}")
        self.pos += 1

    def _binary(self, level: int) -> _Node:
        if level == len(_BINARY_LEVELS):
            return self._power()
        node = self._binary(level + 1)
        while (tok := self._peek()) and tok[0] == "op" and tok[1] in _BINARY_LEVELS[level]:
            self.pos += 1
            op = {"AND": "&&", "OR": "||"}.get(tok[1], tok[1])
            node = _Node("binary", op, (node, self._binary(level + 1)))
        return node

    def _power(self) -> _Node:
        base = self._unary()
        if (tok := self._peek()) and tok[1] == "^":
            self.pos += 1
            return _Node("binary", "^", (base, self._power()))
        return base

    def _unary(self) -> _Node:
        if (tok := self._peek()) and tok[1] in ("-", "+"):
            self.pos += 1
            operand = self._unary()
            return _Node("unary", tok[1], (operand,))
        return self._atom()

    def _atom(self) -> _Node:
        tok = self._peek()
        if tok is None:
            raise InvalidAlarmDefinition(f"expression {self.expression!r} ends too early")
        self.pos += 1
        kind, text = tok
        if kind == "num":
            return _Node("num", float(text))
        if kind == "id":
            return _Node("id", text)
        if text == "(":
            node = self._binary(0)
            self._take(")")
            return node
        if text == "[":
            return _Node("array", None, self._list("]"))
        if kind == "func" and text in _FUNCTIONS:
            self._take("(")
            return _Node("call", text, self._list(")"))
        raise InvalidAlarmDefinition(f"unsupported {text!r} in {self.expression!r}")

    def _list(self, closing: str) -> tuple[_Node, ...]:
        items: list[_Node] = []
        if (tok := self._peek()) and tok[1] == closing:
            self.pos += 1
            return ()
        while True:
            items.append(self._binary(0))
            if (tok := self._peek()) and tok[1] == ",":
                self.pos += 1
                continue
            self._take(closing)
            return tuple(items)


def parse_expression(expression: str) -> _Node:
    return _Parser(expression).parse()


def expression_ids(expression: str) -> set[str]:
    """The metric ids an expression reads."""
    ids: set[str] = set()

    def walk(node: _Node) -> None:
        if node.kind == "id":
            ids.add(str(node.value))
        for arg in node.args:
            walk(arg)

    walk(parse_expression(expression))
    return ids


@dataclass(frozen=True, slots=True)
class MathContext:
    """The series of each metric id, the period indexes of the query's range (FILL fills them), and
    the metrics' period in seconds (PERIOD)."""

    series: Mapping[str, Series]
    indexes: Sequence[int]
    period_s: int


def evaluate_expression(expression: str, context: MathContext) -> Series:
    result = _eval(parse_expression(expression), context)
    if not isinstance(result, dict):
        raise InvalidAlarmDefinition(f"expression {expression!r} gives a scalar, an alarm needs a time series")
    return result


def _eval(node: _Node, ctx: MathContext) -> Value | list[Value]:
    if node.kind == "num":
        return float(node.value)  # type: ignore[arg-type]
    if node.kind == "id":
        if node.value not in ctx.series:
            raise InvalidAlarmDefinition(f"unknown metric id {node.value!r}")
        return dict(ctx.series[str(node.value)])
    if node.kind == "array":
        return [_value(_eval(arg, ctx)) for arg in node.args]
    if node.kind == "unary":
        operand = _value(_eval(node.args[0], ctx))
        return _pointwise(operand, 0.0, lambda a, _: -a) if node.value == "-" else operand
    if node.kind == "binary":
        left, right = (_value(_eval(arg, ctx)) for arg in node.args)
        return _binary(str(node.value), left, right)
    return _call(str(node.value), node.args, ctx)


def _value(value: Value | list[Value]) -> Value:
    if isinstance(value, list):
        raise InvalidAlarmDefinition("an array of time series is only valid inside SUM, AVG, MIN or MAX")
    return value


def _arithmetic(op: str) -> Callable[[float, float], float | None]:
    def divide(a: float, b: float) -> float | None:
        return None if b == 0 else a / b  # "the data point is dropped"

    def power(a: float, b: float) -> float | None:
        try:
            result = a**b
        except (OverflowError, ZeroDivisionError):
            return None
        return result if isinstance(result, float | int) else None

    return {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": divide,
        "^": power,
    }[op]


def _compare(op: str) -> Callable[[float, float], float]:
    tests: dict[str, Callable[[float, float], bool]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "&&": lambda a, b: a != 0 and b != 0,
        "||": lambda a, b: a != 0 or b != 0,
    }
    test = tests[op]
    return lambda a, b: 1.0 if test(a, b) else 0.0


def _binary(op: str, left: Value, right: Value) -> Value:
    fn = _arithmetic(op) if op in "+-*/^" else _compare(op)
    return _pointwise(left, right, fn)


def _pointwise(left: Value, right: Value, fn: Callable[[float, float], float | None]) -> Value:
    """Time series against time series: over the union of their timestamps, a missing value as 0
    ("Missing values in a time series are treated as 0"; comparison operators alike). Against a
    scalar: at each datapoint of the series. A None result drops the datapoint."""
    if not isinstance(left, dict) and not isinstance(right, dict):
        result = fn(left, right)
        if result is None:
            raise InvalidAlarmDefinition("scalar division by zero")
        return result
    if isinstance(left, dict) and isinstance(right, dict):
        keys = sorted(left.keys() | right.keys())
        pairs = ((k, left.get(k, 0.0), right.get(k, 0.0)) for k in keys)
    elif isinstance(left, dict):
        pairs = ((k, v, float(right)) for k, v in sorted(left.items()))  # type: ignore[arg-type]
    else:
        pairs = ((k, float(left), v) for k, v in sorted(right.items()))  # type: ignore[union-attr]
    out: Series = {}
    for k, a, b in pairs:
        if (value := fn(a, b)) is not None and math.isfinite(value):
            out[k] = value
    return out


def _call(name: str, args: tuple[_Node, ...], ctx: MathContext) -> Value:
    if name == "PERIOD":
        return float(ctx.period_s)
    if name == "IF":
        return _if(args, ctx)
    if name == "FILL":
        return _fill(args, ctx)
    values = [_eval(arg, ctx) for arg in args]
    if name == "ABS":
        return _pointwise(_value(values[0]), 0.0, lambda a, _: abs(a))
    if len(values) != 1 or not isinstance(values[0], list):
        raise InvalidAlarmDefinition(f"{name} takes one array of time series here, e.g. {name}([m1, m2])")
    return _reduce(name, values[0])


def _reduce(name: str, items: list[Value]) -> Series:
    """SUM/AVG/MIN/MAX of an array of time series: one series, a missing value counting as 0."""
    series = [item if isinstance(item, dict) else None for item in items]
    if any(s is None for s in series):
        raise InvalidAlarmDefinition(f"{name} of an array takes time series only")
    keys = sorted(set().union(*(s.keys() for s in series if s is not None)))
    combine: dict[str, Callable[[list[float]], float]] = {
        "SUM": math.fsum,
        "AVG": lambda xs: math.fsum(xs) / len(xs),
        "MIN": min,
        "MAX": max,
    }
    return {k: combine[name]([s.get(k, 0.0) for s in series if s is not None]) for k in keys}


def _if(args: tuple[_Node, ...], ctx: MathContext) -> Value:
    """IF(condition, trueValue[, falseValue]), per timestamp of the condition: a missing trueValue
    datapoint gives 0, a missing (or omitted) falseValue drops the datapoint."""
    if len(args) not in (2, 3):
        raise InvalidAlarmDefinition("IF takes a condition, a true value and an optional false value")
    condition = _value(_eval(args[0], ctx))
    when_true = _value(_eval(args[1], ctx))
    when_false = _value(_eval(args[2], ctx)) if len(args) == 3 else None
    if not isinstance(condition, dict):
        chosen = when_true if condition != 0 else when_false
        return {} if chosen is None else chosen
    out: Series = {}
    for k, c in sorted(condition.items()):
        if c != 0:
            out[k] = when_true.get(k, 0.0) if isinstance(when_true, dict) else when_true
        elif isinstance(when_false, dict):
            if k in when_false:
                out[k] = when_false[k]
        elif when_false is not None:
            out[k] = when_false
    return out


def _fill(args: tuple[_Node, ...], ctx: MathContext) -> Series:
    """FILL(ts, value | series | REPEAT): every missing datapoint of the query's range filled."""
    if len(args) != 2:
        raise InvalidAlarmDefinition("FILL takes a time series and a filler")
    series = _value(_eval(args[0], ctx))
    if not isinstance(series, dict):
        raise InvalidAlarmDefinition("FILL fills a time series")
    filler = _value(_eval(args[1], ctx))
    out: Series = {}
    for k in ctx.indexes:
        if k in series:
            out[k] = series[k]
        elif isinstance(filler, dict):
            if k in filler:
                out[k] = filler[k]
        else:
            out[k] = filler
    return out


# --- the decision ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Datapoint:
    """A datapoint of the evaluation range: `value` None when missing and filled by the treatment."""

    index: int
    value: float | None
    breaching: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """`state` None: keep the current state (treatment `ignore`). `evaluated` oldest first."""

    state: str | None
    evaluated: tuple[Datapoint, ...]
    case: str  # "real" | "filled" | "all-missing" | "too-few" | "low-sample"

    @property
    def breaching(self) -> int:
        return sum(1 for p in self.evaluated if p.breaching)

    @property
    def filled(self) -> int:
        return sum(1 for p in self.evaluated if p.value is None)


def breaches(value: float, threshold: float, comparison: str) -> bool:
    return COMPARISONS[comparison][0](value, threshold)


def decide(
    points: Sequence[float | None],
    threshold: float,
    comparison: str,
    evaluation_periods: int,
    datapoints_to_alarm: int,
    treat_missing_data: str = MISSING,
) -> Decision:
    """The alarm state from the evaluation range's datapoints (oldest first, None = missing), as
    "How alarm state is evaluated when data is missing" describes it:
    - at least N real datapoints: the N most recent real ones decide, the treatment is not used;
    - fewer: every real datapoint is included and only as many missing ones as needed to make N
      are filled with the treatment (breaching / notBreaching);
    - with `missing` / `ignore` the missing ones are not filled: a non-breaching real datapoint
      (with fewer than M breaching) means OK; only breaching ones: ALARM with `missing` when the
      oldest of them is at least M periods old, otherwise INSUFFICIENT_DATA (`missing`) or the
      current state (`ignore`); no real datapoint at all: INSUFFICIENT_DATA / current state.
    In every evaluated case: ALARM when at least M datapoints breach, OK otherwise."""
    n, m = evaluation_periods, datapoints_to_alarm
    real = [Datapoint(i, v, breaches(v, threshold, comparison)) for i, v in enumerate(points) if v is not None]
    if len(real) >= n:
        evaluated = tuple(real[-n:])
        return Decision(_m_of_n(evaluated, m), evaluated, "real")
    if treat_missing_data in (BREACHING, NOT_BREACHING):
        # "CloudWatch uses missing data points only as few times as possible": the most recent ones.
        missing = [i for i, v in enumerate(points) if v is None][-(n - len(real)) :]
        fills = [Datapoint(i, None, treat_missing_data == BREACHING) for i in missing]
        evaluated = tuple(sorted(real + fills, key=lambda p: p.index))
        return Decision(_m_of_n(evaluated, m), evaluated, "all-missing" if not real else "filled")
    if not real:
        return Decision(INSUFFICIENT_DATA if treat_missing_data == MISSING else None, (), "all-missing")
    evaluated = tuple(real)
    breaching = sum(1 for p in real if p.breaching)
    if breaching >= m:
        return Decision(ALARM, evaluated, "too-few")
    if breaching < len(real):
        return Decision(OK, evaluated, "too-few")
    oldest_age = len(points) - real[0].index
    if treat_missing_data == MISSING and oldest_age >= m:
        return Decision(ALARM, evaluated, "too-few")
    return Decision(INSUFFICIENT_DATA if treat_missing_data == MISSING else None, evaluated, "too-few")


def _m_of_n(evaluated: Iterable[Datapoint], m: int) -> str:
    return ALARM if sum(1 for p in evaluated if p.breaching) >= m else OK


# --- one evaluation ----------------------------------------------------------------------------
Samples = Sequence[tuple[float, Sequence[float]]]  # (epoch seconds, values) as the EMF records hold them


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one evaluation: `state` the state after it (the current one when kept)."""

    state: str
    changed: bool
    reason: str
    reason_data: str
    decision: Decision
    datapoints: tuple[float | None, ...] = field(default=())


def period_indexes(now: float, period_real_s: float, count: int) -> list[int]:
    """The `count` most recent complete periods before `now` (the period in progress is not
    evaluated: an alarm evaluated at 11:26:05 with a 60 s period reads the 11:25 datapoint)."""
    current = math.floor(now / period_real_s)
    return list(range(current - count, current))


def _buckets(samples: Samples, period_real_s: float, indexes: Sequence[int]) -> dict[int, list[float]]:
    wanted = set(indexes)
    buckets: dict[int, list[float]] = {}
    for at, values in samples:
        k = math.floor(at / period_real_s)
        if k in wanted and values:
            buckets.setdefault(k, []).extend(values)
    return buckets


def evaluate(
    rule: AlarmRule,
    samples: Mapping[str, Samples],
    now: float,
    current_state: str = INSUFFICIENT_DATA,
    time_scale: float = 1.0,
) -> Verdict:
    """Evaluate `rule` at `now` over the raw samples of each of its metric ids. `time_scale` > 1
    compresses time: a 60 s period lasts 60 / time_scale real seconds (drills)."""
    period_real = rule.period_s / time_scale
    indexes = period_indexes(now, period_real, rule.range_periods)
    series: dict[str, Series] = {}
    low_sample = False
    for metric in rule.metrics:
        buckets = _buckets(samples.get(metric.id, ()), period_real, indexes)
        series[metric.id] = {k: v for k, vs in buckets.items() if (v := aggregate(vs, metric.statistic)) is not None}
        recent = indexes[-rule.evaluation_periods :]
        if rule.evaluate_low_sample_count_percentile == IGNORE:
            low_sample |= any(low_sample_count(buckets.get(k, []), metric.statistic) for k in recent)
    if rule.expression is None:
        result = series[rule.metrics[0].id]
    else:
        result = evaluate_expression(rule.expression, MathContext(series, indexes, rule.period_s))
    points = tuple(result.get(k) for k in indexes)
    decision = decide(
        points,
        rule.threshold,
        rule.comparison,
        rule.evaluation_periods,
        rule.datapoints_to_alarm,
        rule.treat_missing_data,
    )
    if low_sample:
        # "the alarm ignores the metric while the sample size is low": the state does not change.
        decision = Decision(None, decision.evaluated, "low-sample")
    state = decision.state or current_state
    reason = state_reason(rule, decision, current_state, indexes, period_real)
    data = reason_data(rule, decision, points, indexes, period_real, now)
    return Verdict(state, state != current_state, reason, data, decision, points)


# --- reasons -----------------------------------------------------------------------------------
def _stamp(index: int, period_real_s: float) -> str:
    return datetime.fromtimestamp(index * period_real_s, UTC).strftime("%d/%m/%y %H:%M:%S")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def state_reason(
    rule: AlarmRule, decision: Decision, previous: str, indexes: Sequence[int], period_real_s: float
) -> str:
    """The StateReason, in CloudWatch's words ("Threshold Crossed: 3 out of the last 3 datapoints
    [...] were greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).")."""
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    phrase = COMPARISONS[rule.comparison][1]
    if decision.case == "low-sample":
        return "Evaluation skipped: too few samples for the percentile (EvaluateLowSampleCountPercentile=ignore)."
    if not decision.evaluated and decision.state in (INSUFFICIENT_DATA, None):
        return f"Insufficient Data: {_plural(n, 'datapoint')} {'was' if n == 1 else 'were'} unknown."
    if decision.case == "all-missing":
        kind = "[Breaching]" if rule.treat_missing_data == BREACHING else "[NonBreaching]"
        return (
            f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
            f"{_plural(n, 'missing datapoint')} {'was' if n == 1 else 'were'} treated as {kind}."
        )
    real = [p for p in reversed(decision.evaluated) if p.value is not None]
    listed = ", ".join(f"{p.value} ({_stamp(indexes[p.index], period_real_s)})" for p in real)
    if decision.state == INSUFFICIENT_DATA or decision.state is None:
        return (
            f"Insufficient Data: {_plural(len(real), 'datapoint')} [{listed}] and "
            f"{_plural(len(indexes) - len(real), 'missing datapoint')} in the evaluation range."
        )
    alarm = decision.state == ALARM
    counted = decision.breaching if alarm else len(decision.evaluated) - decision.breaching
    verb = "was" if counted == 1 else "were"
    negation = "" if alarm else "not "
    minimum = m if alarm else n - m + 1
    transition = f"{previous} -> {decision.state}"
    text = (
        f"Threshold Crossed: {counted} out of the last {len(decision.evaluated)} datapoints [{listed}] {verb} "
        f"{negation}{phrase} the threshold ({float(rule.threshold)}) "
        f"(minimum {_plural(minimum, 'datapoint')} for {transition} transition)."
    )
    if decision.filled:
        kind = "[Breaching]" if rule.treat_missing_data == BREACHING else "[NonBreaching]"
        text += f" {_plural(decision.filled, 'missing datapoint')} treated as {kind}."
    return text


def reason_data(
    rule: AlarmRule,
    decision: Decision,
    points: Sequence[float | None],
    indexes: Sequence[int],
    period_real_s: float,
    now: float,
) -> str:
    """StateReasonData: the JSON CloudWatch attaches (version, queryDate, startDate, period,
    recentDatapoints, threshold, evaluatedDatapoints)."""
    data: dict[str, object] = {
        "version": "1.0",
        "queryDate": _iso(now),
        "startDate": _iso(indexes[0] * period_real_s),
        "period": rule.period_s,
        "recentDatapoints": [p for p in points if p is not None],
        "threshold": float(rule.threshold),
        "evaluatedDatapoints": [
            {"timestamp": _iso(indexes[p.index] * period_real_s), **({} if p.value is None else {"value": p.value})}
            for p in reversed(decision.evaluated)
        ],
    }
    if rule.expression is None:
        data["statistic"] = rule.metrics[0].statistic
    return json.dumps(data, separators=(",", ":"))
