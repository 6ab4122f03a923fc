"""Expressions over columns from the user's own config: features, selections, weights, labels.

``Jet_pt[0] / 1000``, ``(nJet >= 4) & (MET_pt > 30)``, ``sum(Jet_pt)``, ``abs(genWeight)``.
The text is parsed with Python's grammar and then walked node by node here: only column names,
numbers, arithmetic, comparisons, ``& | ~`` (and ``and or not``) and the functions of
:data:`FUNCTIONS` are allowed. Nothing is ever handed to ``eval``, and no Python builtin or
attribute can be reached, so an expression can compute but never run code.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import awkward as ak
import numpy as np

from hepsweep.errors import ConfigError, DataError, HepsweepError, message_line


def _reduce(function: Callable[..., Any]) -> Callable[[Any], Any]:
    """A reduction over each row's collection (``sum(Jet_pt)``); a flat column is returned as it is."""

    def reduce(values: Any) -> Any:
        return function(values, axis=-1) if _is_jagged(values) else values

    return reduce


FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{name: getattr(np, name) for name in (
        "abs", "sqrt", "exp", "log", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos",
        "arctan", "arctan2", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "hypot",
        "minimum", "maximum", "sign", "floor", "ceil", "isfinite",
    )},
    "where": ak.where,
    "num": lambda values: ak.num(values, axis=-1),  # entries of each row's collection
    "sum": _reduce(ak.sum),
    "max": _reduce(ak.max),
    "min": _reduce(ak.min),
    "any": _reduce(ak.any),
    "all": _reduce(ak.all),
}
_FUNCTION_LIST = ", ".join(sorted(FUNCTIONS))
CONSTANTS: dict[str, float] = {"pi": float(np.pi), "e": float(np.e), "inf": float(np.inf)}

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert, ast.Not: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


def _is_jagged(values: Any) -> bool:
    return isinstance(values, ak.Array) and values.ndim > 1


@dataclass(frozen=True)
class Expression:
    """A parsed expression of ``key`` (the config key it came from, for messages)."""

    text: str
    key: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: Any, key: str) -> "Expression":
        """Parse and check ``text``; a ConfigError names what is not allowed."""
        source = str(text).strip()
        if not source:
            raise ConfigError(f"{key} is empty; give a column name or an expression such as MET_pt > 30")
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError as exc:
            raise ConfigError(
                f"{key}={source!r} does not parse ({exc.msg}); "
                "write it like (nJet >= 4) & (MET_pt > 30)"
            ) from None
        names: set[str] = set()
        for node in ast.walk(tree):
            _check_node(node, source, key, names)
        return cls(source, key, tree, frozenset(names))

    def evaluate(self, columns: Mapping[str, Any]) -> Any:
        """The expression's values over ``columns`` (flat and jagged awkward arrays, or numbers).
        NaN and infinities are left for the caller to report (which column, how many rows)."""
        try:
            with np.errstate(all="ignore"):
                return _Evaluator(columns, self).visit(self.tree.body)
        except HepsweepError:
            raise
        except (ValueError, TypeError, ArithmeticError) as exc:  # awkward's broadcasting, numpy's types
            reason = message_line(exc)
            raise DataError(
                f"{self.key}={self.text!r} cannot be computed ({reason}); combine columns of the same shape: "
                "one value per event, or entries of the same collection"
            ) from None


def _check_node(node: ast.AST, source: str, key: str, names: set[str]) -> None:
    allowed = (
        ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Name,
        ast.Constant, ast.Subscript, ast.Load, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
    )
    if not isinstance(node, allowed) or isinstance(node, (ast.MatMult, ast.LShift, ast.RShift, ast.In, ast.NotIn, ast.Is, ast.IsNot)):
        raise ConfigError(
            f"{key}={source!r} uses {type(node).__name__.lower()}, which expressions do not allow; "
            f"use column names, numbers, + - * / ** comparisons & | ~ and the functions {_FUNCTION_LIST}"
        )
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, bool)):
        raise ConfigError(f"{key}={source!r} holds {node.value!r}; expressions take numbers only")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
            called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ConfigError(
                f"{key}={source!r} calls {called}(), which is not allowed; use one of {_FUNCTION_LIST} "
                "with positional arguments"
            )
    if isinstance(node, ast.Subscript) and not (
        isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int)
    ):
        raise ConfigError(f"{key}={source!r}: a collection is indexed by a whole number only, e.g. Jet_pt[0]")
    if isinstance(node, ast.Name) and node.id not in FUNCTIONS and node.id not in CONSTANTS:
        names.add(node.id)


class _Evaluator:
    """Walks a checked tree; every node kind here was allowed by :func:`_check_node`."""

    def __init__(self, columns: Mapping[str, Any], expression: Expression) -> None:
        self.columns, self.expression = columns, expression

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return CONSTANTS[node.id] if node.id in CONSTANTS else self.columns[node.id]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.visit(node.operand))
        if isinstance(node, ast.BoolOp):
            combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
            values = [self.visit(v) for v in node.values]
            result = values[0]
            for value in values[1:]:
                result = combine(result, value)
            return result
        if isinstance(node, ast.Compare):
            left, result = self.visit(node.left), None
            for op, right_node in zip(node.ops, node.comparators):
                right = self.visit(right_node)
                step = _COMPARE[type(op)](left, right)
                result = step if result is None else (result & step)
                left = right
            return result
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id](*(self.visit(a) for a in node.args))  # type: ignore[union-attr]
        if isinstance(node, ast.Subscript):
            values, index = self.visit(node.value), node.slice.value  # type: ignore[attr-defined]
            if not _is_jagged(values):
                raise ConfigError(f"{self.expression.key}={self.expression.text!r} indexes a column with one value per event")
            return ak.fill_none(ak.pad_none(values, index + 1, axis=-1, clip=False)[..., index], np.nan)
        raise AssertionError(f"unchecked node {type(node).__name__}")  # pragma: no cover
