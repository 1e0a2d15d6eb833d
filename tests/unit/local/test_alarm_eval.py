"""The local alarm evaluator's verdicts on crafted metric series, held against CloudWatch's documented
behaviour. "Guide" below is the CloudWatch User Guide, "Using Amazon CloudWatch alarms" (sections
Evaluating an alarm; How alarm state is evaluated when data is missing; Percentile-based alarms and
low data samples), and "Using metric math" (arithmetic, comparison and logical operators, IF, FILL).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from functions.domain.alarms.definitions import MetricQuery, alarm_definitions
from local import alarm_eval as ae
from local.alarm_eval import ALARM, INSUFFICIENT_DATA, OK

RETAIN = None  # "Retain current state"
TREATMENTS = (ae.MISSING, ae.IGNORE, ae.BREACHING, ae.NOT_BREACHING)
INSUFF = INSUFFICIENT_DATA


def _points(pattern: str) -> list[float | None]:
    """The guide's notation, oldest first: 0 not breaching, X breaching, - missing."""
    return [{"0": 0.0, "X": 1.0, "-": None}[c] for c in pattern.split()]


def _decide(pattern: str, m: int, n: int, treatment: str) -> str | None:
    return ae.decide(_points(pattern), 0.5, "GreaterThanThreshold", n, m, treatment).state


# Guide, "How alarm state is evaluated when data is missing", first table: Datapoints to Alarm and
# Evaluation Periods both 3, the 5 most recent datapoints retrieved. Columns: MISSING, IGNORE,
# BREACHING, NOT BREACHING.
THREE_OF_THREE = [
    ("0 - X - X", (OK, OK, OK, OK)),  # 3 real datapoints: the treatment is not needed
    ("0 - - - -", (OK, OK, OK, OK)),  # "stays OK even if missing data is treated as breaching"
    ("- - - - -", (INSUFF, RETAIN, ALARM, OK)),  # all missing
    ("0 X X - X", (ALARM, ALARM, ALARM, ALARM)),  # "enough real data points"
    ("- - - - X", (INSUFF, RETAIN, ALARM, OK)),
    ("X - - - -", (ALARM, RETAIN, ALARM, OK)),  # "the oldest evaluated data point is breaching"
]
# Second table: Datapoints to Alarm 2, Evaluation Periods 3 ("a 2 out of 3, M out of N alarm").
TWO_OF_THREE = [
    ("0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),  # the 3 most recent of 5 real ones: X 0 X
    ("0 - X - -", (OK, OK, ALARM, OK)),
    ("- - - - 0", (OK, OK, ALARM, OK)),
    ("- - - - X", (INSUFF, RETAIN, ALARM, OK)),
]


@pytest.mark.parametrize(
    ("m", "pattern", "expected"), [(3, *row) for row in THREE_OF_THREE] + [(2, *row) for row in TWO_OF_THREE]
)
@pytest.mark.parametrize("column", range(4), ids=TREATMENTS)
def test_the_state_of_each_documented_series_matches_the_guides_tables(m, pattern, expected, column):
    assert _decide(pattern, m, 3, TREATMENTS[column]) == expected[column]


@pytest.mark.parametrize(
    ("pattern", "m", "expected"),
    [
        # Knowledge Center, "Why did my CloudWatch alarm send me a notification after a single breached
        # data point?": ALARM "when the oldest available breaching data point in the alarm's evaluation
        # range is at least as old as the value of Datapoints to Alarm, and all other more recent data
        # points are breaching or missing ... even when missing data is being treated as missing".
        ("- - X - -", 3, ALARM),  # 3 periods old, M = 3
        ("- - - X -", 3, INSUFF),  # 2 periods old, M = 3
        ("- - - X -", 2, ALARM),
        ("- X - X -", 3, ALARM),  # the oldest breaching one counts
    ],
)
def test_with_missing_a_lone_old_enough_breaching_datapoint_raises_the_alarm(pattern, m, expected):
    assert _decide(pattern, m, 3, ae.MISSING) == expected


def test_breaching_datapoints_need_not_be_consecutive_within_the_last_n():
    # Guide, Evaluating an alarm: "The breaching data points do not have to be consecutive, they just
    # must all be within the last number of data points equal to Evaluation Period."
    assert _decide("0 0 X 0 X 0 X", 3, 5, ae.MISSING) == ALARM  # last 5: X 0 X 0 X
    assert _decide("X X X 0 0 0 X", 3, 5, ae.MISSING) == OK  # last 5: X 0 0 0 X


def test_only_as_many_missing_datapoints_as_needed_are_filled_with_the_treatment():
    # Guide: "CloudWatch fills in the missing data points ... However, any real data points in the
    # evaluation range, no matter when they were reported, are included ... uses missing data points
    # only as few times as possible."
    decision = ae.decide(_points("0 - - - -"), 0.5, "GreaterThanThreshold", 3, 3, ae.BREACHING)
    assert [(p.index, p.value, p.breaching) for p in decision.evaluated] == [
        (0, 0.0, False),
        (3, None, True),
        (4, None, True),
    ]
    assert decision.filled == 2 and decision.state == OK


@pytest.mark.parametrize(
    ("comparison", "value", "breaching"),
    [
        ("GreaterThanThreshold", 5.0, False),  # at the threshold: not crossed
        ("GreaterThanThreshold", 5.000001, True),
        ("GreaterThanOrEqualToThreshold", 5.0, True),
        ("GreaterThanOrEqualToThreshold", 4.999999, False),
        ("LessThanThreshold", 5.0, False),
        ("LessThanThreshold", 4.999999, True),
        ("LessThanOrEqualToThreshold", 5.0, True),
        ("LessThanOrEqualToThreshold", 5.000001, False),
    ],
)
def test_each_comparison_operator_crosses_the_threshold_as_its_name_says(comparison, value, breaching):
    # PutMetricAlarm ComparisonOperator: "The specified Statistic value is used as the first operand."
    assert ae.breaches(value, 5.0, comparison) is breaching


# --- period aggregation ----------------------------------------------------------------------------------
VALUES = [float(v) for v in range(1, 101)]  # 1..100


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [
        ("Sum", 5050.0),
        ("Average", 50.5),
        ("SampleCount", 100.0),
        ("Minimum", 1.0),
        ("Maximum", 100.0),
        ("p95", 95.0),  # 95 % of the values are at or below 95
        ("p50", 50.0),
        ("p99.5", 100.0),
        ("p100", 100.0),
    ],
)
def test_a_period_aggregates_its_raw_values_with_the_alarms_statistic(statistic, expected):
    assert ae.aggregate(VALUES, statistic) == expected


def test_a_period_without_values_is_a_missing_datapoint_whatever_the_statistic():
    assert all(ae.aggregate([], s) is None for s in ("Sum", "SampleCount", "p95"))


def test_an_unknown_statistic_is_refused():
    with pytest.raises(ae.InvalidAlarmDefinition):
        ae.aggregate([1.0], "Median")


@pytest.mark.parametrize(
    ("statistic", "count", "low"),
    [
        # Guide, Percentile-based alarms: "For percentiles between 0.5 and 1.00, ... fewer than
        # 10/(1-percentile) data points ... fewer than 1000 samples for an alarm on a p99"; "between 0
        # and 0.5, ... fewer than 10/percentile".
        ("p99", 999, True),
        ("p99", 1000, False),
        ("p95", 199, True),
        ("p95", 200, False),
        ("p10", 99, True),
        ("p10", 100, False),
        ("Sum", 1, False),
    ],
)
def test_percentile_low_sample_counts_follow_the_guides_formula(statistic, count, low):
    assert ae.low_sample_count([1.0] * count, statistic) is low


# --- metric math -------------------------------------------------------------------------------------------
def _math(expression: str, **series: list[float | None]) -> list[float | None]:
    indexes = list(range(len(next(iter(series.values())))))
    ctx = ae.MathContext(
        {k: {i: v for i, v in enumerate(vs) if v is not None} for k, vs in series.items()}, indexes, 60
    )
    result = ae.evaluate_expression(expression, ctx)
    return [result.get(i) for i in indexes]


METRIC1 = [30.0, 20.0, 0.0, 0.0]
METRIC2 = [20.0, None, 20.0, None]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # "Using metric math", Comparison and logical operators: metric1 [30, 20, 0, 0], metric2 [20, -, 20, -].
        ("metric1 < metric2", [0, 0, 1, 0]),
        ("metric1 >= 30", [1, 0, 0, 0]),
        ("metric1 > 15 AND metric2 > 15", [1, 0, 0, 0]),
        ("metric1 > 15 && metric2 > 15", [1, 0, 0, 0]),
        ("metric1 > 25 OR metric2 > 15", [1, 0, 1, 0]),
        # Arithmetic: "Missing values in a time series are treated as 0."
        ("metric1 + metric2", [50, 20, 20, 0]),
        ("2 * metric1 - 10", [50, 30, -10, -10]),
        ("-metric1", [-30, -20, 0, 0]),
        ("metric1 ^ 2", [900, 400, 0, 0]),
        # "If the value of a data point causes a function to attempt to divide by zero, the data point is dropped."
        ("metric2 / metric1", [20 / 30, 0.0, None, None]),
    ],
)
def test_metric_math_operators_give_the_documented_series(expression, expected):
    assert _math(expression, metric1=METRIC1, metric2=METRIC2) == expected


# "Using IF expressions": metric1 [1, 1, 0, 0, -], metric2 [30, -, 0, 0, 30], metric3 [0, 0, 20, -, 20].
IF_SERIES = {
    "metric1": [1.0, 1.0, 0.0, 0.0, None],
    "metric2": [30.0, None, 0.0, 0.0, 30.0],
    "metric3": [0.0, 0.0, 20.0, None, 20.0],
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("IF(metric1, metric2, metric3)", [30, 0, 20, None, None]),
        ("IF(metric1, 5, metric3)", [5, 5, 20, None, None]),
        ("IF(metric1, metric2, 5)", [30, 0, 5, 5, None]),
        ("IF(metric1, metric2)", [30, 0, None, None, None]),  # falseValue omitted: dropped
        ("IF(metric3 < 10, 1, 0)", [1, 1, 0, None, 0]),
        ("IF(1, metric2, metric3)", [30, None, 0, 0, 30]),  # scalar condition: the whole series
        ("FILL(metric3, 7)", [0, 0, 20, 7, 20]),
        ("FILL(metric2, metric3)", [30, 0, 0, 0, 30]),
        ("SUM([metric2, metric3])", [30, 0, 20, 0, 50]),
        ("MAX([metric2, metric3])", [30, 0, 20, 0, 30]),
    ],
)
def test_if_fill_and_array_functions_give_the_documented_series(expression, expected):
    assert _math(expression, **IF_SERIES) == expected


@pytest.mark.parametrize("expression", ["m1 +", "LOG(m1)", "FILL(m1, REPEAT)", "m1 m2", "M1 * 2", "AVG(m1)", "5"])
def test_expressions_the_evaluator_cannot_evaluate_are_refused(expression):
    with pytest.raises(ae.InvalidAlarmDefinition):
        ae.evaluate_expression(expression, ae.MathContext({"m1": {0: 1.0}, "m2": {0: 1.0}}, [0], 60))


# --- whole evaluations ---------------------------------------------------------------------------------------
def _error_rate_rule(**overrides) -> ae.AlarmRule:
    fields = {
        "name": "t-critical-error-rate",
        "metrics": (
            MetricQuery("errors", "Errors", "Sum", (("service", "hybrid-router"),)),
            MetricQuery("requests", "Requests", "Sum", (("service", "hybrid-router"),)),
        ),
        "expression": "100 * errors / requests",
        "threshold": 5.0,
        "comparison": "GreaterThanThreshold",
        "period_s": 60,
        "evaluation_periods": 2,
        "datapoints_to_alarm": 2,
        "treat_missing_data": ae.NOT_BREACHING,
    }
    return ae.AlarmRule(**(fields | overrides))


def _traffic(minutes: dict[int, tuple[int, int]], base: float = 600_000.0) -> dict[str, list]:
    """Samples per id: minute -> (requests, errors), one EMF record per request 10 s into the minute."""
    samples: dict[str, list] = {"errors": [], "requests": []}
    for minute, (requests, errors) in minutes.items():
        at = base + minute * 60 + 10
        for i in range(requests):
            samples["requests"].append((at, [1.0]))
            samples["errors"].append((at, [1.0 if i < errors else 0.0]))
    return samples


NOW = 600_000.0 + 5 * 60 + 5  # 5 s into minute 5: minutes 0..4 are complete


def test_an_error_rate_above_the_threshold_in_the_last_two_periods_raises_the_alarm_with_cloudwatchs_reason():
    verdict = ae.evaluate(_error_rate_rule(), _traffic({3: (100, 10), 4: (50, 5)}), NOW, OK)

    assert (verdict.state, verdict.changed) == (ALARM, True)
    assert verdict.datapoints[-2:] == (10.0, 10.0)
    assert verdict.reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints [10.0 (")
    assert verdict.reason.endswith(
        "were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )
    data = json.loads(verdict.reason_data)
    assert data["period"] == 60 and data["threshold"] == 5.0 and len(data["evaluatedDatapoints"]) == 2


def test_one_period_below_the_threshold_returns_a_two_of_two_alarm_to_ok():
    # M of N: ALARM needs M breaching among the last N; one good period leaves fewer than M.
    verdict = ae.evaluate(_error_rate_rule(), _traffic({3: (100, 10), 4: (100, 1)}), NOW, ALARM)
    assert (verdict.state, verdict.changed) == (OK, True)
    assert "1 out of the last 2 datapoints" in verdict.reason and "ALARM -> OK" in verdict.reason


def test_the_period_in_progress_is_not_evaluated():
    # The EventBridge example of the guide: queried at 11:26:05 with a 60 s period, the most recent
    # datapoint evaluated is 11:25:00.
    verdict = ae.evaluate(_error_rate_rule(), _traffic({4: (10, 0), 5: (10, 10)}), NOW, OK)
    assert verdict.state == OK
    assert json.loads(verdict.reason_data)["evaluatedDatapoints"][0]["timestamp"].endswith("T22:44:00.000+0000")


def test_datapoints_older_than_the_evaluation_range_are_not_read():
    # N = 2: the range is N + 2 = 4 periods (minutes 1..4); minute 0 lies outside it.
    verdict = ae.evaluate(_error_rate_rule(treat_missing_data=ae.MISSING), _traffic({0: (10, 10)}), NOW, OK)
    assert verdict.state == INSUFFICIENT_DATA
    assert verdict.reason == "Insufficient Data: 2 datapoints were unknown."


def test_no_traffic_with_not_breaching_is_ok_and_says_how_missing_datapoints_were_treated():
    verdict = ae.evaluate(_error_rate_rule(), {}, NOW, INSUFFICIENT_DATA)
    assert verdict.state == OK
    assert verdict.reason == (
        "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated "
        "as [NonBreaching]."
    )


def test_ignore_keeps_the_current_state_when_every_datapoint_is_missing():
    verdict = ae.evaluate(_error_rate_rule(treat_missing_data=ae.IGNORE), {}, NOW, ALARM)
    assert (verdict.state, verdict.changed) == (ALARM, False)


def test_compressed_time_scales_the_period():
    # time_scale 60: a 60 s period lasts 1 real second; the same traffic spread over seconds alarms.
    samples = {"requests": [(1000.2, [1.0]), (1001.5, [1.0])], "errors": [(1000.2, [1.0]), (1001.5, [1.0])]}
    verdict = ae.evaluate(_error_rate_rule(), samples, 1002.1, OK, time_scale=60)
    assert verdict.state == ALARM and verdict.datapoints[-2:] == (100.0, 100.0)
    assert json.loads(verdict.reason_data)["period"] == 60  # the definition's period, as configured


def test_a_p95_alarm_ignoring_low_sample_counts_keeps_its_state():
    rule = ae.AlarmRule(
        name="t-latency",
        metrics=(MetricQuery("latency", "Latency", "p95", ()),),
        threshold=100.0,
        comparison="GreaterThanThreshold",
        period_s=60,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        evaluate_low_sample_count_percentile="ignore",
    )
    few = {"latency": [(NOW - 60, [500.0] * 10)]}
    many = {"latency": [(NOW - 60, [500.0] * 200)]}
    assert ae.evaluate(rule, few, NOW, OK).state == OK
    assert ae.evaluate(rule, many, NOW, OK).state == ALARM
    # "If you specify evaluate or omit this parameter, the alarm is always evaluated"
    evaluated = dataclasses.replace(rule, evaluate_low_sample_count_percentile=None)
    assert ae.evaluate(evaluated, few, NOW, OK).state == ALARM


@pytest.mark.parametrize(
    "overrides",
    [
        {"comparison": "LessThanLowerOrGreaterThanUpperThreshold"},
        {"treat_missing_data": "zero"},
        {"datapoints_to_alarm": 3},
        {"expression": None},
        {"expression": "100 * errors / LOG(requests)"},
        {"period_s": 0},
    ],
)
def test_definitions_outside_what_the_evaluator_knows_are_refused(overrides):
    with pytest.raises(ae.InvalidAlarmDefinition):
        _error_rate_rule(**overrides)


# --- the stack's own definitions ---------------------------------------------------------------------------------
@pytest.mark.parametrize("definition", alarm_definitions(), ids=lambda d: d.key)
def test_each_stack_alarm_is_evaluable_and_its_expression_agrees_with_the_definitions_formula(definition):
    rule = ae.rule_of(definition, "HybridRouting")
    assert rule.name == definition.name("HybridRouting")
    if definition.ratio is None:
        return
    cases = [
        {q.id: float(3 * i + 1) for i, q in enumerate(definition.queries)},
        {q.id: 0.0 for q in definition.queries},
    ]
    for values in cases:
        ctx = ae.MathContext({k: {0: v} for k, v in values.items()}, [0], definition.period_s)
        assert ae.evaluate_expression(rule.expression, ctx).get(0) == definition.ratio.evaluate(values)
