"""The sandbox blueprints render in, and its limits.

Blueprints are untrusted input (shared between teams, rendered in CI where
cloud credentials are at hand): they render in Jinja2's immutable sandbox with
one function (`range`), a short list of filters and methods, and limits on
loops, values, output and time (see "Limits" in docs/blueprints.md).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import do_default, do_lower, do_tojson, do_trim, do_upper, sync_do_join
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context
from jinja2.visitor import NodeTransformer

from tierstack.generator.config.blueprint.lines import _MARK
from tierstack.generator.core.yamlio import MAX_FILE_BYTES, size_text

# Jinja2's immutable sandbox refuses attributes that start with '_' and methods that change a value.
# On top of it: one global function (range), a short list of filters and methods, and limits, so a
# blueprint can neither run code nor take more than about a second and some tens of MB to render.
# Every limit is checked before the work it bounds (a string is measured before it is repeated), and
# the template is rewritten before compiling so that every loop, literal, '~' and piece of output
# passes through a check (`_Guard`). Documented in docs/blueprints.md, "Limits"; keep both in step.

MAX_RANGE = 10_000  # numbers one range() may give
MAX_ITERATIONS = 100_000  # loop iterations in one blueprint, all loops together
MAX_VALUE = 1_000_000  # characters, or items, in one value a template builds or writes
MAX_OUTPUT = MAX_FILE_BYTES  # characters of text a blueprint renders to (it is then read as a YAML file)
MAX_WORK = 10_000_000  # characters and items built, measured, looped over and written, in all
MAX_INT_BITS = 128  # size of a number arithmetic may make
MAX_FORMAT_WIDTH = 1_000  # width or precision in a '%' format
MAX_SECONDS = 2.0  # wall-clock time for one render; the built-in blueprints take milliseconds

FILTERS: dict[str, Callable[..., Any]] = {}  # filled below: name -> filter
STR_METHODS = frozenset(
    {"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "title", "capitalize"}
)
DICT_METHODS = frozenset({"items", "keys", "values", "get"})
LOOP_METHODS = frozenset({"cycle", "changed"})
LIMITS_HINT = "blueprints render in a sandbox with limits; see 'Limits' in docs/blueprints.md"
SANDBOX_HINT = (
    "blueprints render in a sandbox: the only function is range(), attributes starting with '_' "
    "are out of reach, and only the filters and methods in docs/blueprints.md are there"
)
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")
# lists, tuples and dict views: walked item by item
_SEQUENCES: tuple[type[Iterable[Any]], ...] = (list, tuple, type({}.keys()), type({}.values()), type({}.items()))


class LimitExceeded(SecurityError):
    """A blueprint went over one of the sandbox's limits."""


def _non_finite(value: Any) -> bool:
    """Whether a constant is, or holds, an infinite or not-a-number float."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (tuple, list)):
        return any(_non_finite(item) for item in value)
    if isinstance(value, dict):
        return any(_non_finite(item) for pair in value.items() for item in pair)
    return False


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, refusing a constant Python source cannot write.

    Jinja writes a float constant into the compiled template as Python source, so `1e400` (a literal,
    or `-1.7e308 - 1.7e308` folded at compile time) becomes the name `inf`, which fails only when the
    template runs, as a NameError. It is the template's error, at its line.
    """

    def visit_Const(self, node: nodes.Const, frame: Frame) -> None:
        if _non_finite(node.value):
            raise jinja2.TemplateSyntaxError(
                "this number is out of range: a number in a blueprint is at most about 1.8e308", node.lineno
            )
        super().visit_Const(node, frame)


class _Sandbox(ImmutableSandboxedEnvironment):
    """One render's sandbox: the environment, the allowed names, and the counters of that render."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False, loader=None)
        self.globals = {"range": self.range}
        self.filters = {**FILTERS, **_GUARD_FILTERS}
        self.work = self.iterations = self.output = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    # -- counting -------------------------------------------------------------------------------

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"rendering took more than {MAX_SECONDS:g} seconds")

    def charge(self, amount: int) -> None:
        self.work += amount
        if self.work > MAX_WORK:
            raise LimitExceeded(
                f"rendering does too much work: more than {MAX_WORK:,} characters and items "
                "built, looped over or written"
            )
        self.tick()

    def measure(self, value: Any) -> int:
        """Characters and items in `value` (containers counted with what they hold), up to MAX_VALUE + 1.

        Values can share parts (`[a, a]`), so what a value writes out can be far larger than the memory it
        holds; this counts what it writes, and stops counting past the limit.
        """
        total, stack = 0, [value]
        while stack and total <= MAX_VALUE:
            item = stack.pop()
            if isinstance(item, str):
                total += len(item)
            elif isinstance(item, Undefined):
                total += 1
            elif isinstance(item, _SEQUENCES):
                total += 1
                stack.extend(item)
            elif isinstance(item, dict):
                total += 1
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, range):
                total += 1 + len(item)
            else:
                total += 1
        self.charge(total)
        return min(total, MAX_VALUE + 1)

    def check(self, value: Any, size: int | None = None) -> Any:
        size = self.measure(value) if size is None else size
        if size > MAX_VALUE:
            raise LimitExceeded(f"this builds a value of more than {MAX_VALUE:,} characters or items")
        return value

    # -- what templates may call and compute ----------------------------------------------------------

    def range(self, *args: int) -> range:
        numbers = range(*args)
        try:
            count = len(numbers)
        except OverflowError:
            count = MAX_RANGE + 1
        if count > MAX_RANGE:
            raise LimitExceeded(
                f"range() of {count:,} numbers is over the limit of {MAX_RANGE:,}"
                if count <= 10**15
                else f"range() is over the limit of {MAX_RANGE:,} numbers"
            )
        return numbers

    def iterate(self, iterable: Any) -> Any:
        if isinstance(iterable, Undefined):
            return iterable  # iterating it raises the usual 'is undefined'
        return self._counted(iterable)

    def _counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise LimitExceeded(f"loops ran more than {MAX_ITERATIONS:,} times in all")
            self.charge(1)
            yield item

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.tick()
        if isinstance(obj, LoopContext):  # loop(children) in a recursive loop: more iterations
            args = (self.iterate(args[0]), *args[1:]) if args else args
        elif not self._may_call(obj):
            name = getattr(obj, "__name__", None) or type(obj).__name__
            raise SecurityError(f"calling '{name}' is not allowed in a blueprint")
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, (list, tuple)):
            self.check(result)
        return result

    def _may_call(self, obj: Any) -> bool:
        if obj == self.range or isinstance(obj, (Macro, BlockReference, Undefined)):
            return True  # calling an Undefined raises the usual 'is undefined'
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        return (
            (isinstance(owner, str) and name in STR_METHODS)
            or (isinstance(owner, dict) and name in DICT_METHODS)
            or (isinstance(owner, LoopContext) and name in LOOP_METHODS)
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.tick()
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()  # name the undefined variable, not its attribute
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise LimitExceeded(f"this makes a number of more than {MAX_INT_BITS} bits")
        elif operator == "*" and ints:
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise LimitExceeded(f"this makes a number of more than {MAX_INT_BITS} bits")
        elif operator == "*" and (isinstance(left, int) or isinstance(right, int)):
            seq, times = (right, left) if isinstance(left, int) else (left, right)
            self.check(seq, self.measure(seq) * max(times, 0))
        elif operator == "+" and not ints:
            self.check(None, self.measure(left) + self.measure(right))
        elif operator == "%" and isinstance(left, str):
            for width in (w for spec in _FORMAT_SPEC.findall(left) for w in spec if w):
                if width == "*" or int(width) > MAX_FORMAT_WIDTH:
                    raise LimitExceeded(f"a '%' format width or precision over {MAX_FORMAT_WIDTH:,}")
            self.check(None, self.measure(left) + self.measure(right))
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"this makes a number of more than {MAX_INT_BITS} bits")
        if not isinstance(result, (int, float)):
            self.check(result)
        return result


def _sandbox(context: Context) -> _Sandbox:
    env = context.environment
    assert isinstance(env, _Sandbox)
    return env


# The guards `_Guard` puts into every template. They take the context so that Jinja never folds them
# into constants at compile time, and their names cannot be written in a template (a '-' is not allowed).


@pass_context
def _guard_emit(context: Context, value: Any, clean_length: int | None = None) -> Any:
    """Every piece of output, also inside macros and {% set %} blocks: counted against MAX_OUTPUT."""
    env = _sandbox(context)
    if clean_length is None:
        env.check(value)
        value = str(value)  # as Jinja would; an undefined variable raises here
        clean_length = len(value)
    env.output += clean_length
    if env.output > MAX_OUTPUT:
        raise LimitExceeded(
            f"the blueprint renders to more than {size_text(MAX_OUTPUT)} of text "
            "(macros and {% set %} blocks count, too)"
        )
    env.charge(clean_length)
    return value


@pass_context
def _guard_iterate(context: Context, iterable: Any) -> Any:
    return _sandbox(context).iterate(iterable)


@pass_context
def _guard_value(context: Context, value: Any) -> Any:
    return _sandbox(context).check(value)


@pass_context
def _guard_concat(context: Context, parts: tuple[Any, ...]) -> str:
    env = _sandbox(context)
    env.check(parts)
    text = "".join(str(part) for part in parts)
    env.charge(len(text))
    return text


@pass_context
def _guard_tick(context: Context, value: Any) -> Any:
    _sandbox(context).tick()
    return value


_GUARD_FILTERS: dict[str, Callable[..., Any]] = {
    "ts-emit": _guard_emit,
    "ts-iter": _guard_iterate,
    "ts-value": _guard_value,
    "ts-concat": _guard_concat,
    "ts-tick": _guard_tick,
}


def _text_filter(function: Callable[..., str]) -> Callable[..., str]:
    @pass_context
    def checked(context: Context, value: Any, *args: Any) -> str:
        env = _sandbox(context)
        env.check(value)
        text = function(value, *args)
        env.charge(len(text))
        return text

    return checked


@pass_context
def _tojson(context: Context, value: Any, indent: int | None = None) -> str:
    env = _sandbox(context)
    env.check(value)
    if indent is not None and not (isinstance(indent, int) and 0 <= indent <= 8):
        raise LimitExceeded("tojson's indent must be a number from 0 to 8")
    text = do_tojson(context.eval_ctx, value, indent)
    env.charge(len(text))
    return text


@pass_context
def _join(context: Context, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    env = _sandbox(context)
    size = env.measure(value)
    env.check(value, size + env.measure(d) * size)
    text = sync_do_join(context.eval_ctx, value, d, attribute)
    env.charge(len(text))
    return text


FILTERS.update(
    {
        "default": do_default,
        "d": do_default,
        "tojson": _tojson,
        "join": _join,
        "length": len,
        "lower": _text_filter(do_lower),
        "upper": _text_filter(do_upper),
        "trim": _text_filter(do_trim),
    }
)


def _guard(node: nodes.Node, name: str, *args: Any) -> nodes.Filter:
    return nodes.Filter(node, name, [nodes.Const(a) for a in args], [], None, None, lineno=node.lineno)


class _Guard(NodeTransformer):
    """Rewrites a parsed template so that loops, literals, '~', comparisons and output pass a guard."""

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            _guard(nodes.Const(child.data, lineno=child.lineno), "ts-emit", len(_MARK.sub("", child.data)))
            if isinstance(child, nodes.TemplateData)
            else _guard(child, "ts-emit")
            for child in node.nodes
        ]
        return node

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _guard(node.iter, "ts-iter")
        return node

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return _guard(self.generic_visit(node), "ts-value")

    visit_Dict = visit_List

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        return _guard(node, "ts-value") if node.ctx == "load" else node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _guard(nodes.Tuple(node.nodes, "load", lineno=node.lineno), "ts-concat")

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        return _guard(self.generic_visit(node), "ts-tick")

    visit_Test = visit_Compare
