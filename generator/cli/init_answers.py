"""What an answer to `tierstack init` may be, checked with the spec's own types, and the flag that gives it.

An answer is taken as people type or paste it (a choice in any case, `billingAccounts/ID`, a GitHub
URL) and stored as the spec stores it; an error found later in the file init would write is told by
the flag of the answer it came from, since the file does not exist yet.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from tierstack.generator.cli.views import echo

if TYPE_CHECKING:
    from tierstack.generator.core.errors import UserError


NOT_WRITTEN = " (nothing was written)"


ABSENT = "no "  # said() of an answer not given


RESEARCH_ONLY = "research selects only experimentation and data_processing"


# what the prompts show as the expected format of an accelerator
ACCELERATOR_FORMAT = "none, gpu:TYPExN or tpu:TYPE; e.g. gpu:nvidia-l4x2, tpu:tpu-v5-litepodx4"


# answers that only apply in production, with the value that says nothing (generator/plan/rules.py)
BATCH_ANSWERS = ("batch_schedule", "batch_model", "batch_input")


PRODUCTION_ANSWERS = ("mission_critical", "reusable", "retraining", "code_changes", "serving", "online_experimentation")


class SuggestingChoice(click.Choice[str]):
    """click.Choice that takes a choice as people type it and names the nearest valid value otherwise.

    `on-degradation`, `On_Degradation` and ` on degradation ` are on_degradation (case, hyphens,
    spaces and underscores do not tell choices apart); `prod` for stage -> did you mean 'production'?
    """

    def normalize_choice(self, choice: object, ctx: click.Context | None) -> str:
        return choice_key(super().normalize_choice(choice, ctx))

    def get_invalid_choice_message(self, value: Any, ctx: click.Context | None) -> str:
        message = super().get_invalid_choice_message(value, ctx)
        near = nearest_choice(str(value), [str(c) for c in self.choices])
        return f"{message} Did you mean '{near}'?" if near else message


def choice_key(text: str) -> str:
    """What a choice answer is compared by: lower case, `_` for hyphens and spaces, trimmed."""
    return "_".join(text.strip().casefold().replace("-", " ").replace("_", " ").split())


def nearest_choice(typed: str, choices: list[str]) -> str | None:
    """The one choice that starts with what was typed (prod -> production), else the closest spelling."""
    from tierstack.generator.core.errors import did_you_mean

    text = typed.strip().lower()
    starting = [c for c in choices if text and c.lower().startswith(text)]
    if len(starting) == 1:
        return starting[0]
    close = did_you_mean(text, choices)
    return close.split("'")[1] if close else None


def option(key: str) -> str:
    """The flag of an answer: serving_network -> --serving-network."""
    return "--" + key.replace("_", "-")


class InvalidAnswer(ValueError):
    """A bad answer, with a hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def hint_of(exc: ValueError) -> str | None:
    return exc.hint if isinstance(exc, InvalidAnswer) else None


def flag_of(key: str, value: Any) -> str:
    """The flag that gives this answer: --serving online, --mission-critical, --not-reusable."""
    if isinstance(value, bool):
        negative = "--no-" if key == "online_experimentation" else "--not-"
        return option(key) if value else negative + key.replace("_", "-")
    if isinstance(value, list):
        value = ",".join(value)
    return f"{option(key)} {shlex.quote(str(value))}"


def click_confirm(text: str, default: bool) -> bool:
    with end_of_input(text):
        return click.confirm(text, default=default)


@contextlib.contextmanager
def end_of_input(question: str) -> Iterator[None]:
    """End of input at a prompt (stdin closed, Ctrl-D) is a UserError naming the question; Ctrl-C stays Abort."""
    from tierstack.generator.core.errors import UserError

    try:
        yield
    except (click.Abort, RuntimeError) as abort:
        # stdin closed (`0<&-`): Python has no sys.stdin and input() raises RuntimeError("lost sys.stdin")
        closed = isinstance(abort, RuntimeError) and sys.stdin is None
        if not closed and not isinstance(abort.__context__, EOFError):  # Ctrl-C: "Aborted!", exit 130
            raise
        echo()  # end the unanswered prompt's line
        raise UserError(
            f"init needs answers: stdin closed before '{question}'; nothing was written",
            hint="answer at a terminal, or pass --no-input with the answers as flags, e.g. "
            "tierstack init --no-input --name NAME --team TEAM (tierstack init --help lists them)",
        ) from None


def as_spec_type(name: str, value: Any) -> Any:
    """value through one of the spec's Annotated types (spec.Name, spec.Cron...), or ValueError with its message."""
    from pydantic import TypeAdapter, ValidationError

    from tierstack.generator.config import spec

    try:
        return TypeAdapter(getattr(spec, name)).validate_python(value)
    except ValidationError as exc:
        raise ValueError(first_error_message(exc)) from None


def as_spec_field(model: str, field: str, value: Any) -> Any:
    """value as one field of a spec model (spec.Variables.alert_email, spec.Budget.currency), checked as there."""
    from pydantic import ValidationError

    from tierstack.generator.config import spec

    try:
        return getattr(getattr(spec, model).model_validate({field: value}), field)
    except ValidationError as exc:
        raise ValueError(first_error_message(exc)) from None


def first_error_message(exc: Any) -> str:
    from tierstack.generator.core.pydantic_errors import validator_message

    return validator_message(exc.errors()[0])


def blank_or(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An optional answer: blank is None."""
    return lambda v: None if v is None or not str(v).strip() else check(str(v).strip())


def check_amount(value: str) -> str:
    try:
        amount = float(value)
    except ValueError:
        raise InvalidAnswer(f"'{value}' is not an amount", "a monthly amount per environment, e.g. 500") from None
    try:
        checked = as_spec_type("Amount", amount)
    except ValueError as exc:
        raise InvalidAnswer(f"'{value}': {exc}", "a monthly amount per environment, e.g. 500") from None
    return f"{checked:g}"


def billing_account_id(value: str) -> str:
    """A billing account as people paste it, as the spec stores it: the bare id, upper case.

    The console and `gcloud billing accounts list` show `billingAccounts/0X0X0X-0X0X0X-0X0X0X` (the
    resource name) or the id in either case; the Budget API's billing account is the id.
    """
    text = value.strip()
    prefix = "billingaccounts/"
    if text.casefold().startswith(prefix):
        text = text[len(prefix) :]
    return text.upper()


def github_repository(value: str) -> str:
    """A GitHub repository as people paste it, as the spec stores it: OWNER/NAME.

    Taken: `https://github.com/O/N` (a trailing `/` or `.git` too), `github.com/O/N`,
    `git@github.com:O/N.git` and `ssh://git@github.com/O/N.git`. Anything else is left for the spec's
    own check to refuse with its message.
    """
    import re

    text = value.strip()
    match = re.fullmatch(
        r"(?:(?:https?://|ssh://git@|git://)?(?:www\.)?github\.com/|git@github\.com:)([^/\s]+)/([^/\s]+?)(?:\.git)?/?",
        text,
        flags=re.IGNORECASE,
    )
    return f"{match.group(1)}/{match.group(2)}" if match else text


def ascii_accelerator(choice: Any) -> str:
    """An AcceleratorChoice as init writes it into YAML: `gpu:NVIDIA_L4x2`, with an ASCII `x`.

    The spec takes `x`, `×` and `*` before the count (spec.parse_accelerator); a file people edit and
    grep is easier to type in ASCII.
    """
    if choice.kind == "none":
        return "none"
    count = f"x{choice.count}" if choice.count else ""
    return f"{choice.kind}:{choice.type}{count}"


def check_batch_input(value: str) -> str:
    """model_serving's own rule (batch_input_table) on a table given."""
    from tierstack.generator.plan.gcp_facts import FactError
    from tierstack.modules.model_serving import batch_input_table

    try:
        batch_input_table(value, "PROJECT", "NAME", prepared=True)
    except FactError as err:
        raise InvalidAnswer(err.message, err.hint or "") from None
    return value


def nearest_accelerator(text: str) -> str | None:
    """The valid accelerator closest to what was typed, written as one is typed: gpu:t4 -> gpu:nvidia-tesla-t4x1."""
    import difflib
    import re

    from tierstack.generator.facts.catalog import load_catalog

    kind, sep, rest = text.strip().partition(":")
    if not sep:
        kind, rest = "", text.strip()
    kind = kind.lower()
    match = re.fullmatch(r"(.*?)(?:\s*[x×*]\s*(\d+))?", rest.strip(), re.ASCII)
    assert match is not None  # the pattern matches any string
    typed = match.group(1).strip().upper().replace("-", "_").replace(" ", "_")
    count = int(match.group(2)) if match.group(2) else None
    accelerators = [a for a in load_catalog().accelerators if kind not in ("gpu", "tpu") or a.kind == kind]
    if not typed or not accelerators:
        return None

    def core(name: str) -> str:  # what people call it: T4, L4, A100_80GB, V5_LITEPOD
        return re.sub(r"^(NVIDIA_)?(TESLA_)?(TPU_)?", "", name)

    wanted = core(typed)
    found = next((a for a in accelerators if typed in (a.name, core(a.name)) or wanted == core(a.name)), None)
    if found is None:  # the longest shared start, then the shortest name: H100 -> H100_80GB, V5E -> V5_LITEPOD

        def shared(acc: Any) -> int:
            left, right = wanted.replace("_", ""), core(acc.name).replace("_", "")
            return next(
                (i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y), min(len(left), len(right))
            )

        best = max(accelerators, key=lambda a: (shared(a), -len(a.name)))
        if shared(best) >= 2:
            found = best
        else:
            close = difflib.get_close_matches(wanted, [core(a.name) for a in accelerators], n=1, cutoff=0.5)
            found = next((a for a in accelerators if close and core(a.name) == close[0]), None)
    if found is None:
        return None
    counts = found.counts
    chosen = count if count in counts else found.default_count
    if count is not None and count not in counts:
        chosen = min(counts, key=lambda c: (abs(c - count), c))
    return f"{found.kind}:{found.name.lower().replace('_', '-')}x{chosen}"


def a_repo(answers: dict[str, Any]) -> str:
    """The repository answered so far, for the id questions' help (OWNER/NAME when not yet known)."""
    return str(answers.get("ci_repository") or "OWNER/NAME")


def github_id(value: Any) -> int:
    """A GitHub id as typed or passed: digits, a positive integer."""
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"'{text}' is not a GitHub id: a positive number, from gh api repos/OWNER/NAME --jq .id")
    return int(text)


# where a value in the resolved plan came from, when an error names it: the spec field's last parts -> the answer
_SETTING_ANSWERS = {
    ("model_monitoring", "notification_email"): "alert_email",
    ("foundation", "ci", "repository"): "ci_repository",
    ("foundation", "ci", "repository_id"): "ci_repository_id",
    ("foundation", "ci", "repository_owner_id"): "ci_repository_owner_id",
    ("model_serving", "network"): "serving_network",
    ("model_serving", "batch_schedule"): "batch_schedule",
    ("model_serving", "batch_model"): "batch_model",
    ("model_serving", "batch_input"): "batch_input",
    ("ml_pipelines", "schedule"): "schedule",
    ("budget", "amount"): "budget",
    ("budget", "billing_account"): "billing_account",
    ("budget", "currency"): "currency",
}


def answer_of(field: str | None) -> str | None:
    """The init answer a spec field comes from: use_case.serving -> serving, variables.alert_email -> alert_email."""
    if not field:
        return None
    parts = tuple(field.split("."))
    for suffix, key in _SETTING_ANSWERS.items():
        if parts[-len(suffix) :] == suffix:
            return key
    if parts[0] in ("use_case", "variables") and len(parts) > 1:
        return parts[1]
    if parts[0] in ("name", "team", "region", "budget"):
        return parts[0]
    if parts[0] == "environments":
        return "region" if parts[-1] == "region" else "environments"
    return None


def about_answers(err: UserError) -> UserError:
    """An error found in the file init would write, told by the answers' flags: the file does not exist."""
    from tierstack.generator.core.errors import ErrorList, UserError

    if isinstance(err, ErrorList):
        return ErrorList([about_answers(e) for e in err.errors])
    key = answer_of(err.field)
    return UserError(
        err.message + NOT_WRITTEN,
        field=option(key) if key else err.field,
        hint=err.hint,
    )
