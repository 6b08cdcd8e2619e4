"""A blueprint compiled in the sandbox and rendered, every failure a UserError at its template line.

It also records which variables each line writes out as they are, so that a
line that only passes on a value the user wrote (`schedule: {{ schedule | tojson }}`)
is not taken for where the value was set.
"""

from __future__ import annotations

import functools
import re
import time
import traceback
from collections.abc import Iterator
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.exceptions import SecurityError

from tierstack.generator.config.blueprint.layer import Key
from tierstack.generator.config.blueprint.lines import mark_lines, unmark
from tierstack.generator.config.blueprint.sandbox import (
    FILTERS,
    LIMITS_HINT,
    MAX_SECONDS,
    SANDBOX_HINT,
    LimitExceeded,
    _Guard,
    _Sandbox,
)
from tierstack.generator.core.errors import UserError, did_you_mean


def render(name: str, source: str, variables: dict[str, Any]) -> tuple[str, dict[int, int]]:
    """Render a blueprint in the sandbox; any failure is a UserError naming the file and the template line."""
    text, line_map, _ = _render(name, source, variables)
    return text, line_map


References = dict[int, list[Key]]  # template source line -> the variables its {{ ... }} read (`use_case.schedule`)


@functools.lru_cache(maxsize=64)
def _compiled(name: str, source: str) -> tuple[Any, References, frozenset[str]]:
    """A blueprint compiled once per text (a fleet renders the same few for every member, thousands of
    times): the sandboxed template, the variables each line reads, and every variable name it reads."""
    env = _Sandbox()
    tree = env.parse(mark_lines(source))
    references = _references(tree)
    used = frozenset(jinja2.meta.find_undeclared_variables(tree))
    tree = _Guard().visit(tree)
    tree.set_environment(env)
    template = env.from_string(tree)
    template.filename = name
    template.name = name
    return template, references, used


def _render(name: str, source: str, variables: dict[str, Any]) -> tuple[str, dict[int, int], References]:
    """render(), and the variables each line's expressions read."""
    try:
        template, references, _ = _compiled(name, source)
        env = template.environment  # compiled once, its budgets fresh for every render
        env.work = env.iterations = env.output = 0
        env.deadline = time.monotonic() + MAX_SECONDS  # compiling is bounded by the file size; time the render
        return (*unmark(template.render(**variables)), references)
    except jinja2.TemplateSyntaxError as exc:
        hint = None
        if exc.message and exc.message.startswith("No filter named"):
            hint = "filters in blueprints: " + ", ".join(sorted(FILTERS)) + "; see docs/blueprints.md"
        raise UserError(f"template error: {exc.message}", file=name, line=exc.lineno, hint=hint) from None
    except LimitExceeded as exc:
        raise UserError(str(exc.message), file=name, line=_template_line(exc, name), hint=LIMITS_HINT) from None
    except SecurityError as exc:
        raise UserError(
            f"the blueprint sandbox refused this: {exc.message}",
            file=name,
            line=_template_line(exc, name),
            hint=SANDBOX_HINT,
        ) from None
    except jinja2.UndefinedError as exc:
        missing = re.findall(r"'([^']+)' is undefined", str(exc))
        line = _template_line(exc, name)
        if missing and missing[0] in DEFAULT_NAMESPACE and missing[0] not in variables:
            raise UserError(
                f"'{missing[0]}' is not available in blueprints", file=name, line=line, hint=SANDBOX_HINT
            ) from None
        if missing:
            hint = did_you_mean(missing[0], variables) or "known variables: " + ", ".join(sorted(variables))
            raise UserError(
                f"template variable '{missing[0]}' is not defined",
                file=name,
                line=line,
                field=f"variables.{missing[0]}",
                hint=f"{hint}; or define it under 'variables:' in tierstack.yaml",
            ) from None
        raise UserError(f"template error: {exc}", file=name, line=line) from None
    except jinja2.TemplateError as exc:
        raise UserError(f"template error: {exc}", file=name, line=_template_line(exc, name)) from None
    except RecursionError as exc:
        raise UserError(
            "the template calls itself, or nests, too deeply",
            file=name,
            line=_template_line(exc, name),
            hint=LIMITS_HINT,
        ) from None
    except SyntaxError:  # Python's own limit on nested blocks, when the template is compiled
        raise UserError("the template nests its blocks too deeply", file=name, hint=LIMITS_HINT) from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as exc:
        line = _template_line(exc, name)
        if isinstance(exc, TypeError) and "no loader" in str(exc):
            raise UserError(
                "include, import and Jinja's own extends are not available in blueprints",
                file=name,
                line=line,
                hint="a blueprint builds on another with the 'extends:' key",
            ) from None
        raise UserError(f"template error: {type(exc).__name__}: {exc}", file=name, line=line) from None


def _references(tree: nodes.Template) -> References:
    """The variables each source line writes out as they are, for load's attribution.

    Only where a variable's own value comes out: `{{ schedule | tojson }}`, `{{ x | default(y) }}`,
    either branch of `a if test else b`. What a comparison, a test, `and`/`or` or arithmetic
    computes is the blueprint's own value (`{{ (mission_critical or kms_key is defined) | tojson }}`).
    """
    found: References = {}
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            if not isinstance(child, nodes.TemplateData):
                found.setdefault(child.lineno, []).extend(_passed(child))
    return found


def _passed(node: nodes.Node | None) -> Iterator[Key]:
    chain = _variable(node) if node is not None else None
    if chain:
        yield chain
    elif isinstance(node, nodes.Filter):  # the value goes through the filter; load compares what comes out
        yield from _passed(node.node)
        if node.name in ("default", "d") and node.args:
            yield from _passed(node.args[0])
    elif isinstance(node, nodes.CondExpr):
        yield from _passed(node.expr1)
        yield from _passed(node.expr2)


def _variable(node: nodes.Node) -> Key | None:
    """`schedule` -> ('schedule',); `use_case.schedule`, `use_case["schedule"]` -> ('use_case', 'schedule')."""
    if isinstance(node, nodes.Name):
        return (node.name,) if node.ctx == "load" else None
    if isinstance(node, nodes.Getattr):
        base = _variable(node.node)
        return (*base, node.attr) if base else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        base = _variable(node.node)
        return (*base, node.arg.value) if base else None
    return None


def _template_line(exc: BaseException, name: str) -> int | None:
    """The template line an exception came from (Jinja rewrites frames to the template's name)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in (name, "<template>")]
    return frames[-1].lineno if frames else None
