"""Strategy rules: a small JSON language, compiled to boolean signal arrays.

A strategy has two rule sets, each with an optional rule per side::

    entry_rules = {"long": <condition>, "short": <condition>}
    exit_rules  = {"long": <condition>, "short": <condition>}

A missing (or null) side never fires; at least one entry side is needed for a useful
strategy (the validator insists on it). Rules are evaluated on each bar's close: a
signal at bar i depends on bars 0..i only, never on a later bar.

Operands, the numbers a condition compares (one float per bar)::

    {"indicator": "sma", "params": {"window": 10}}   an indicator from the catalogue
                                                     (indicators.INDICATORS); omitted
                                                     params take their defaults
    {"price": "close"}                               open, high, low, close or volume
    {"value": 30}                                    a constant

Any operand may carry `"offset": k` (an integer, 0 <= k <= 100,000): its value k bars
earlier. For a Donchian breakout, "close crosses above the previous bar's upper
channel" is
`{"left": {"price": "close"}, "op": "crosses_above",
  "right": {"indicator": "donchian_upper", "params": {"window": 20}, "offset": 1}}`.

Conditions::

    {"left": <operand>, "op": <op>, "right": <operand>}
    {"all": [<condition>, ...]}      every condition holds (non-empty list)
    {"any": [<condition>, ...]}      at least one holds (non-empty list)
    {"not": <condition>}             the condition does not hold (one condition)

Combinations nest at most MAX_NESTING (32) deep, and a strategy (its entry and exit
rules together) holds at most MAX_COMPARISONS (200) comparisons.

`op` is one of `>`, `<`, `>=`, `<=`, `crosses_above`, `crosses_below`:

- `crosses_above` holds at bar i when left[i] > right[i] and left[i-1] <= right[i-1];
- `crosses_below` holds at bar i when left[i] < right[i] and left[i-1] >= right[i-1];
  so a cross needs the previous bar, and never holds on the first bar.

Missing values: during an indicator's warm-up, before the first bar of an offset, or on
the first bar of a cross, a comparison has no value (NaN). Such a comparison is
*unknown*, not false, and unknown stays unknown through `not`: `{"not": rsi > 70}` does
not fire while the RSI is still warming up. `all` is false as soon as one part is false,
`any` is true as soon as one part is true (three-valued logic). A rule fires only on the
bars where it is definitely true.

Parameter references: wherever a number is expected (an indicator parameter, a
constant's `value`, an `offset`), `{"param": "fast"}` may stand in for it. It is looked
up in the `parameters` mapping: the strategy's `config.parameters` overridden by the
run's. Templates and parameter sweeps work this way.

Example (sma_cross: long when the fast SMA crosses above the slow one)::

    {"left": {"indicator": "sma", "params": {"window": {"param": "fast"}}},
     "op": "crosses_above",
     "right": {"indicator": "sma", "params": {"window": {"param": "slow"}}}}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from backtest.engine.indicators import (
    INDICATORS,
    MAX_WINDOW,
    PRICE_FIELDS,
    WINDOW_RANGE,
    IndicatorCache,
    NumberRange,
    ParamValue,
    check_indicator_params,
    normalise_params,
    render_value,
)
from backtest.engine.types import Bars, Signals

RULE_SIDES: tuple[str, ...] = ("long", "short")
COMPARISON_OPS: tuple[str, ...] = (">", "<", ">=", "<=", "crosses_above", "crosses_below")
COMBINATORS: tuple[str, ...] = ("all", "any", "not")
OPERAND_KINDS: tuple[str, ...] = ("indicator", "price", "value")

OFFSET_RANGE = NumberRange(integer=True, minimum=0, maximum=MAX_WINDOW)
VALUE_RANGE = NumberRange()
ATR_WINDOW_RANGE = WINDOW_RANGE

# all/any/not levels a condition may nest; deeper input is refused, not recursed into.
MAX_NESTING = 32
# Comparisons in a strategy's entry and exit rules together.
MAX_COMPARISONS = 200


@dataclass(frozen=True)
class Problem:
    """One thing wrong with user input: where (a dotted path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path} {self.message}" if self.path else self.message


def render_problems(problems: Iterable[Problem]) -> str:
    """One problem per line, e.g. 'entry_rules.long.left.params.window must be ...'."""
    return "\n".join(str(problem) for problem in problems)


class InvalidStrategy(ValueError):
    """Rules or configuration that cannot run; `problems` lists everything wrong."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(render_problems(self.problems))


# ---------------------------------------------------------------------------------------
# The parsed form: checked, parameters resolved, defaults filled.


@dataclass(frozen=True)
class IndicatorOperand:
    name: str
    params: tuple[tuple[str, ParamValue], ...]  # complete, sorted by name
    offset: int = 0


@dataclass(frozen=True)
class PriceOperand:
    field: str
    offset: int = 0


@dataclass(frozen=True)
class ConstantOperand:
    value: float
    offset: int = 0


Operand = IndicatorOperand | PriceOperand | ConstantOperand


@dataclass(frozen=True)
class Comparison:
    left: Operand
    op: str
    right: Operand


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    condition: Condition


Condition = Comparison | AllOf | AnyOf | Not


@dataclass(frozen=True)
class ParsedRules:
    long_entry: Condition | None
    short_entry: Condition | None
    long_exit: Condition | None
    short_exit: Condition | None

    def conditions(self) -> tuple[Condition, ...]:
        present = (self.long_entry, self.short_entry, self.long_exit, self.short_exit)
        return tuple(condition for condition in present if condition is not None)


# ---------------------------------------------------------------------------------------
# Parameter references.


def is_parameter_reference(node: object) -> bool:
    return isinstance(node, dict) and "param" in node


def _reference_problem(node: dict, parameters: Mapping[str, Any]) -> str | None:
    name = node["param"]
    if set(node) != {"param"} or not isinstance(name, str) or not name:
        return 'must be a parameter reference of the form {"param": "<name>"}'
    if name not in parameters:
        defined = ", ".join(sorted(parameters)) or "none"
        return (
            f"refers to parameter {render_value(name)}, which is not defined (defined: {defined})"
        )
    return None


def referenced_parameters(*rule_sets: Any) -> set[str]:
    """Names of the parameters the rules refer to."""
    names: set[str] = set()
    # A stack, not recursion: this runs on raw input, however deeply it nests.
    pending: list[Any] = list(rule_sets)
    while pending:
        node = pending.pop()
        if is_parameter_reference(node):
            if isinstance(node["param"], str):
                names.add(node["param"])
        elif isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return names


def join_path(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


# ---------------------------------------------------------------------------------------
# Parsing: one walk that both checks and builds, so validation and compilation agree.


class _Parser:
    def __init__(self, parameters: Mapping[str, Any] | None) -> None:
        self.parameters = parameters or {}
        self.problems: list[Problem] = []
        self.comparisons = 0  # seen so far, in every rule set
        self.first_excess: str | None = None  # path of comparison MAX_COMPARISONS + 1
        self._too_deep = False  # reported for the current rule already

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def rule_set(self, node: object, path: str) -> dict[str, Condition | None]:
        if not isinstance(node, dict):
            self.fail(path, "must be an object with an optional long and short rule")
            return {}
        for key in node:
            if key not in RULE_SIDES:
                self.fail(join_path(path, key), "is not a side (expected long, short)")
        parsed: dict[str, Condition | None] = {}
        for side in RULE_SIDES:
            if node.get(side) is not None:
                self._too_deep = False
                parsed[side] = self.condition(node[side], join_path(path, side), depth=0)
        return parsed

    def condition(self, node: object, path: str, depth: int) -> Condition | None:
        """`depth` counts the all/any/not around `node`."""
        if not isinstance(node, dict):
            self.fail(
                path,
                "must be a condition: {left, op, right}, {all: [...]}, {any: [...]} "
                f"or {{not: ...}} (got {render_value(node)})",
            )
            return None
        combinators = [key for key in node if key in COMBINATORS]
        if combinators:
            if depth >= MAX_NESTING:
                # Reported once per rule, and not recursed into: input can nest
                # deeper than Python's stack.
                if not self._too_deep:
                    self._too_deep = True
                    self.fail(path, f"nests deeper than {MAX_NESTING} levels")
                return None
            if len(node) > 1:
                found = ", ".join(str(key) for key in node)
                self.fail(
                    path, f"must hold a single all, any or not and nothing else (found {found})"
                )
            return self.combination(combinators[0], node[combinators[0]], path, depth + 1)
        return self.comparison(node, path)

    def combination(self, kind: str, items: object, path: str, depth: int) -> Condition | None:
        path = join_path(path, kind)
        if kind == "not":
            if isinstance(items, list):
                self.fail(
                    path, "must be one condition, not a list (combine several with all or any)"
                )
                return None
            inner = self.condition(items, path, depth)
            return Not(inner) if inner is not None else None
        if not isinstance(items, list):
            self.fail(path, f"must be a list of conditions (got {render_value(items)})")
            return None
        if not items:
            self.fail(path, "must contain at least one condition")
            return None
        parsed = [
            self.condition(item, f"{path}[{index}]", depth) for index, item in enumerate(items)
        ]
        if any(condition is None for condition in parsed):
            return None
        conditions = tuple(condition for condition in parsed if condition is not None)
        return AllOf(conditions) if kind == "all" else AnyOf(conditions)

    def comparison(self, node: dict, path: str) -> Comparison | None:
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            # Counted (for the message), not checked: the strategy is refused anyway.
            if self.first_excess is None:
                self.first_excess = path
            return None
        for key in node:
            if key not in ("left", "op", "right"):
                self.fail(
                    join_path(path, key),
                    "is not part of a condition (expected left, op, right; or all, any, not)",
                )
        for key in ("left", "op", "right"):
            if key not in node:
                self.fail(join_path(path, key), "is required")
        left = self.operand(node["left"], join_path(path, "left")) if "left" in node else None
        right = self.operand(node["right"], join_path(path, "right")) if "right" in node else None
        op = node.get("op")
        if "op" in node and op not in COMPARISON_OPS:
            self.fail(
                join_path(path, "op"),
                f"must be one of {', '.join(COMPARISON_OPS)} (got {render_value(op)})",
            )
            return None
        if left is None or right is None or op is None:
            return None
        return Comparison(left, str(op), right)

    def operand(self, node: object, path: str) -> Operand | None:
        expected = '{"indicator": ...}, {"price": ...} or {"value": ...}'
        if is_parameter_reference(node):
            self.fail(path, 'must be an operand: wrap the reference as {"value": {"param": ...}}')
            return None
        if not isinstance(node, dict):
            self.fail(path, f"must be an operand: {expected} (got {render_value(node)})")
            return None
        kinds = [key for key in OPERAND_KINDS if key in node]
        if len(kinds) != 1:
            self.fail(path, f"must be exactly one of {expected}")
            return None
        kind = kinds[0]
        allowed = (kind, "params", "offset") if kind == "indicator" else (kind, "offset")
        for key in node:
            if key not in allowed:
                self.fail(
                    join_path(path, key),
                    f"is not allowed in a {kind} operand (allowed: {', '.join(allowed)})",
                )
        offset = 0
        if "offset" in node:
            offset = self.number(node["offset"], join_path(path, "offset"), OFFSET_RANGE)
        if kind == "indicator":
            return self.indicator(node, path, offset)
        if kind == "price":
            field = node["price"]
            if field not in PRICE_FIELDS:
                self.fail(
                    join_path(path, "price"),
                    f"must be one of {', '.join(PRICE_FIELDS)} (got {render_value(field)})",
                )
                return None
            return PriceOperand(field, offset) if offset is not None else None
        value = self.number(node["value"], join_path(path, "value"), VALUE_RANGE)
        if value is None or offset is None:
            return None
        return ConstantOperand(float(value), offset)

    def indicator(self, node: dict, path: str, offset: int | None) -> IndicatorOperand | None:
        name = node["indicator"]
        spec = INDICATORS.get(name) if isinstance(name, str) else None
        if spec is None:
            known = ", ".join(sorted(INDICATORS))
            self.fail(
                join_path(path, "indicator"),
                f"is not a known indicator (got {render_value(name)}; known: {known})",
            )
        params_path = join_path(path, "params")
        params = node.get("params", {})
        if not isinstance(params, dict):
            self.fail(
                params_path, f"must be an object of parameter values (got {render_value(params)})"
            )
            return None
        values: dict[str, object] = {}
        origins: dict[str, str] = {}
        for key, value in params.items():
            resolved = self.resolve(value, join_path(params_path, key))
            if resolved is not _UNRESOLVED:
                values[key] = resolved
                origins[key] = _origin(value)
        if spec is None:
            return None
        problems = check_indicator_params(spec, values, origins)
        if len(values) < len(params):
            # A rule between parameters cannot be judged with one of them unresolved.
            problems.pop("", None)
        for key, message in problems.items():
            self.fail(join_path(params_path, key) if key else params_path, message)
        if problems or len(values) < len(params) or offset is None:
            return None
        complete = normalise_params(spec, values)
        return IndicatorOperand(spec.name, tuple(sorted(complete.items())), offset)

    def resolve(self, node: object, path: str) -> object:
        """The node, or the value of the parameter it refers to (_UNRESOLVED if none)."""
        if not is_parameter_reference(node):
            return node
        message = _reference_problem(node, self.parameters)
        if message:
            self.fail(path, message)
            return _UNRESOLVED
        return self.parameters[node["param"]]

    def number(self, node: object, path: str, number_range: NumberRange) -> Any:
        value = self.resolve(node, path)
        if value is _UNRESOLVED:
            return None
        checked, message = number_range.check(value, _origin(node))
        if message:
            self.fail(path, message)
        return checked


_UNRESOLVED = object()


def _origin(node: object) -> str:
    """How a number slot names its value's origin in messages."""
    if is_parameter_reference(node):
        return f"parameter {render_value(node['param'])}"
    return ""


def parse_rules(
    entry_rules: object, exit_rules: object, parameters: Mapping[str, Any] | None = None
) -> tuple[ParsedRules | None, list[Problem]]:
    """Check the rule sets; the parsed form, or None and every problem found."""
    parser = _Parser(parameters)
    entry = parser.rule_set(entry_rules, "entry_rules")
    exits = parser.rule_set(exit_rules, "exit_rules")
    if parser.first_excess is not None:
        parser.fail(
            parser.first_excess,
            f"is comparison {MAX_COMPARISONS + 1} of {parser.comparisons}; a strategy may "
            f"hold at most {MAX_COMPARISONS} comparisons (entry and exit rules together)",
        )
    if parser.problems:
        return None, parser.problems
    parsed = ParsedRules(
        long_entry=entry.get("long"),
        short_entry=entry.get("short"),
        long_exit=exits.get("long"),
        short_exit=exits.get("short"),
    )
    return parsed, []


def check_rules(
    entry_rules: object, exit_rules: object, parameters: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Every problem in the rule sets (structure, indicators, params, references)."""
    return parse_rules(entry_rules, exit_rules, parameters)[1]


def _parse_or_raise(
    entry_rules: object, exit_rules: object, parameters: Mapping[str, Any] | None
) -> ParsedRules:
    parsed, problems = parse_rules(entry_rules, exit_rules, parameters)
    if parsed is None:
        raise InvalidStrategy(problems)
    return parsed


# ---------------------------------------------------------------------------------------
# Lookback.


def _operand_lookback(operand: Operand) -> int:
    if isinstance(operand, IndicatorOperand):
        return INDICATORS[operand.name].lookback(dict(operand.params)) + operand.offset
    return operand.offset


def _condition_lookback(condition: Condition) -> int:
    if isinstance(condition, Comparison):
        needs_previous_bar = condition.op in ("crosses_above", "crosses_below")
        return max(_operand_lookback(condition.left), _operand_lookback(condition.right)) + int(
            needs_previous_bar
        )
    if isinstance(condition, Not):
        return _condition_lookback(condition.condition)
    return max(_condition_lookback(part) for part in condition.conditions)


def lookback(
    entry_rules: object, exit_rules: object, parameters: Mapping[str, Any] | None = None
) -> int:
    """The first bar index at which every comparison in the rules has a value.

    It is the largest indicator warm-up plus offset, plus one for a cross (which also
    reads the previous bar). A data range of `lookback` bars or fewer can never fire
    a rule that uses them all; callers reject it with this number in the message.
    Raises InvalidStrategy if the rules are invalid.
    """
    parsed = _parse_or_raise(entry_rules, exit_rules, parameters)
    return max((_condition_lookback(c) for c in parsed.conditions()), default=0)


# ---------------------------------------------------------------------------------------
# Evaluation: whole arrays at a time, three-valued (true / false / unknown).


def _delayed(values: np.ndarray, bars: int) -> np.ndarray:
    """values[i - bars] at i; NaN where that is before the first bar."""
    if bars == 0:
        return values
    delayed = np.full(len(values), np.nan)
    if bars < len(values):
        delayed[bars:] = values[:-bars]
    return delayed


class _Evaluator:
    def __init__(self, bars: Bars, cache: IndicatorCache) -> None:
        self.bars = bars
        self.cache = cache
        self._operands: dict[Operand, np.ndarray] = {}

    def operand(self, operand: Operand) -> np.ndarray:
        values = self._operands.get(operand)
        if values is None:
            if isinstance(operand, IndicatorOperand):
                current = self.cache.get(operand.name, dict(operand.params))
            elif isinstance(operand, PriceOperand):
                current = getattr(self.bars, operand.field)
            else:
                current = np.full(len(self.bars), operand.value)
            values = _delayed(current, operand.offset)
            self._operands[operand] = values
        return values

    def previous(self, operand: Operand) -> np.ndarray:
        return self.operand(dataclasses.replace(operand, offset=operand.offset + 1))

    def truth(self, condition: Condition) -> tuple[np.ndarray, np.ndarray]:
        """(definitely true, definitely false) per bar; neither means unknown."""
        if isinstance(condition, Not):
            true, false = self.truth(condition.condition)
            return false, true
        if isinstance(condition, AllOf | AnyOf):
            parts = [self.truth(part) for part in condition.conditions]
            trues = [true for true, _ in parts]
            falses = [false for _, false in parts]
            if isinstance(condition, AllOf):
                return reduce(np.logical_and, trues), reduce(np.logical_or, falses)
            return reduce(np.logical_or, trues), reduce(np.logical_and, falses)
        return self.comparison(condition)

    def comparison(self, comparison: Comparison) -> tuple[np.ndarray, np.ndarray]:
        left = self.operand(comparison.left)
        right = self.operand(comparison.right)
        known = ~(np.isnan(left) | np.isnan(right))
        op = comparison.op
        # NaN compares False, so `true` is never set where a value is missing.
        if op == ">":
            true = left > right
        elif op == "<":
            true = left < right
        elif op == ">=":
            true = left >= right
        elif op == "<=":
            true = left <= right
        else:
            left_before = self.previous(comparison.left)
            right_before = self.previous(comparison.right)
            known &= ~(np.isnan(left_before) | np.isnan(right_before))
            if op == "crosses_above":
                true = (left > right) & (left_before <= right_before)
            else:
                true = (left < right) & (left_before >= right_before)
        return true, known & ~true


def compile_signals(
    bars: Bars,
    entry_rules: dict,
    exit_rules: dict,
    parameters: Mapping[str, Any] | None = None,
    atr_window: int | None = None,
    *,
    on_indicator: Callable[[], None] | None = None,
) -> Signals:
    """Evaluate the rule sets on `bars` into entry/exit signals (see the module doc).

    `parameters` resolves `{"param": ...}` references. With `atr_window`, `Signals.atr`
    holds ATR(atr_window) for risk sizing. Each distinct indicator is computed once,
    and `on_indicator` (if given) is called after each such computation, the ATR
    included: a heartbeat and a cancellation point, as what it raises propagates.
    Raises InvalidStrategy listing every problem if the rules are invalid.
    """
    parsed = _parse_or_raise(entry_rules, exit_rules, parameters)
    if atr_window is not None:
        atr_window, message = ATR_WINDOW_RANGE.check(atr_window)
        if message:
            raise InvalidStrategy([Problem("atr_window", message)])
    evaluator = _Evaluator(bars, IndicatorCache(bars, on_compute=on_indicator))

    def fires(condition: Condition | None) -> np.ndarray:
        if condition is None:
            return np.zeros(len(bars), dtype=bool)
        return evaluator.truth(condition)[0]

    return Signals(
        long_entry=fires(parsed.long_entry),
        long_exit=fires(parsed.long_exit),
        short_entry=fires(parsed.short_entry),
        short_exit=fires(parsed.short_exit),
        atr=evaluator.cache.get("atr", {"window": atr_window}) if atr_window else None,
    )
