"""`tierstack init`: the questionnaire that writes a commented tierstack.yaml.

Every question is also a flag, so scripts can answer without a terminal
(`--no-input` takes the defaults for anything not given). The answers are
validated as a spec before anything is written, and an existing file is only
replaced with --force. Input that ends before the last question (stdin closed,
Ctrl-D) is a UserError naming the question, exit 2, with nothing written;
Ctrl-C at a question is the CLI's "Aborted!", exit 130.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from tierstack.generator.choices import ANSWER_CHOICES as CHOICES


def _check(kind: str) -> Any:
    """A click value_proc that validates one answer the way the spec will: the spec's own types."""

    def proc(value: str) -> str:
        from pydantic import TypeAdapter, ValidationError

        from tierstack.generator import spec

        types: dict[str, Any] = {
            "name": spec.Name,
            "team": spec.Team,
            "schedule": spec.Cron,
            "accelerator": spec.AcceleratorChoice,
            "region": spec.Region,
            "billing_account": spec.BillingAccount | None,
        }
        if kind not in types:
            return value
        try:
            checked = TypeAdapter(types[kind]).validate_python(value or None if kind == "billing_account" else value)
        except ValidationError as exc:
            raise click.BadParameter(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
        return str(checked) if kind == "accelerator" else value

    return proc


@click.command(short_help="Answer questions, get a commented tierstack.yaml.")
@click.argument("path", required=False, default="tierstack.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Use-case name, e.g. fraud-detection.")
@click.option("--team", help="Owning team (cost label).")
@click.option("--stage", type=click.Choice(CHOICES["stage"]))
@click.option("--mission-critical/--not-mission-critical", default=None)
@click.option("--reusable/--not-reusable", default=None)
@click.option("--retraining", type=click.Choice(CHOICES["retraining"]))
@click.option("--schedule", help="Cron for scheduled retraining, e.g. '0 3 * * 1'.")
@click.option("--code-changes", type=click.Choice(CHOICES["code_changes"]))
@click.option("--serving", type=click.Choice(CHOICES["serving"]))
@click.option("--online-experimentation/--no-online-experimentation", default=None)
@click.option("--accelerator", help="none, gpu:TYPE×N or tpu:TYPE.")
@click.option("--region", help="Default GCP region.")
@click.option("--environments", help="Comma-separated, in promotion order (default: the tier's).")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), help="Monthly budget per environment.")
@click.option("--billing-account", help="Billing account id for the budgets.")
@click.option("--no-input", is_flag=True, help="Ask nothing; take defaults for what is not given.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init(path: Path, no_input: bool, force: bool, **given: Any) -> None:
    """Answer a few questions about the use case; write a commented tierstack.yaml.

    \b
    Examples:
      tierstack init
      tierstack init --no-input --name churn --team growth --stage production \\
          --retraining scheduled --schedule "0 4 * * *" --serving batch
    """
    from tierstack.generator.errors import UserError

    if path.exists() and not force:
        raise UserError(
            "already exists; not replacing it", file=path, hint="pass --force to replace it, or give another path"
        )
    answers = _ask(given, no_input)
    text = _render(answers)
    _validate(text, path)
    from tierstack.generator.fsio import write_atomic

    write_atomic(path, text)
    click.echo(f"wrote {path}; next: tierstack explain {path}", err=True)


def _ask(given: dict[str, Any], no_input: bool) -> dict[str, Any]:
    from tierstack.generator.errors import UserError

    answers: dict[str, Any] = {}

    def ask(key: str, text: str, default: Any = None, check: str | None = None, **kw: Any) -> Any:
        if given.get(key) is not None:
            value = given[key]
            return _check(check)(value) if check else value
        if no_input:
            if default is None and kw.get("required"):
                raise UserError(f"--{key.replace('_', '-')} is required with --no-input", field=key)
            return default
        kw.pop("required", None)
        if key in CHOICES:
            kw["type"] = click.Choice(CHOICES[key])
        try:
            if isinstance(default, bool):
                return click.confirm(text, default=default)
            return click.prompt(text, default=default, value_proc=_check(check) if check else None, **kw)
        except click.Abort as abort:
            if not isinstance(abort.__context__, EOFError):  # Ctrl-C: the CLI says "Aborted!", exit 130
                raise
            click.echo()  # end the unanswered prompt's line
            raise UserError(
                f"init needs answers: stdin closed before '{text}'; nothing was written",
                hint="answer at a terminal, or pass --no-input with the answers as flags, e.g. "
                "tierstack init --no-input --name NAME --team TEAM (tierstack init --help lists "
                "them)",
            ) from None

    answers["name"] = ask("name", "Use-case name", check="name", required=True)
    answers["team"] = ask("team", "Owning team", check="team", required=True)
    answers["stage"] = ask("stage", "Stage", "production")
    production = answers["stage"] == "production"
    answers["mission_critical"] = production and ask("mission_critical", "Mission critical?", False)
    answers["reusable"] = production and ask("reusable", "Reused by other teams?", False)
    answers["retraining"] = ask("retraining", "Retraining", "none") if production else "none"
    answers["schedule"] = (
        ask("schedule", "Retraining schedule (cron)", "0 3 * * 1", check="schedule")
        if answers["retraining"] == "scheduled"
        else None
    )
    answers["code_changes"] = ask("code_changes", "Code changes", "rare") if production else "rare"
    answers["serving"] = ask("serving", "Serving", "none") if production else "none"
    answers["online_experimentation"] = answers["serving"] == "online" and ask(
        "online_experimentation", "A/B tests or canaries on live traffic?", False
    )
    answers["accelerator"] = ask("accelerator", "Accelerator", "none", check="accelerator")
    answers["region"] = ask("region", "Region", "us-central1", check="region")
    envs = ask("environments", "Environments (comma-separated)", ",".join(_tier_environments(answers)))
    answers["environments"] = [e.strip() for e in str(envs).split(",") if e.strip()]
    answers["budget"] = ask("budget", "Monthly budget per environment (blank for none)", "", type=str)
    if answers["budget"] not in ("", None):
        try:
            amount = float(answers["budget"])
        except ValueError:
            raise UserError(f"'{answers['budget']}' is not an amount", field="--budget") from None
        if not math.isfinite(amount) or amount <= 0:  # 1e400 reads as inf
            raise UserError(
                f"'{answers['budget']}' is not an amount more than 0",
                field="--budget",
                hint="a monthly amount per environment, e.g. 500",
            )
        answers["budget"] = f"{amount:g}"
        answers["billing_account"] = ask(
            "billing_account", "Billing account id", check="billing_account", required=True
        )
    return answers


def _tier_environments(answers: dict[str, Any]) -> list[str]:
    """The recommended tier's environments, so the default matches what explain will ask for."""
    from tierstack.generator.catalog import load_catalog
    from tierstack.generator.selection import recommend_tier
    from tierstack.generator.spec import UseCase

    catalog = load_catalog()
    fields = {k: answers[k] for k in UseCase.model_fields if k in answers and answers[k] is not None}
    try:
        use_case = UseCase.model_validate(fields)
    except Exception:
        return ["dev"]
    from tierstack.generator.rules import ALWAYS
    from tierstack.generator.selection import Reason, fired_rules

    rules = fired_rules(use_case)
    always = [c for c, _ in ALWAYS]
    chosen: dict[str, list[Reason]] = {c: [] for c in [*always, *(c for rule in rules for c in rule.capabilities)]}
    features: dict[str, list[Reason]] = {f: [] for rule in rules for f in rule.features}
    tier, _ = recommend_tier(chosen, features, catalog)
    return list(catalog.tier(tier).environments)


def _render(answers: dict[str, Any]) -> str:
    from importlib import resources

    import jinja2

    source = (
        resources.files("tierstack.generator").joinpath("templates").joinpath("tierstack.yaml.j2").read_text("utf-8")
    )
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    env.globals["yesno"] = lambda v: "yes" if v else "no"
    return env.from_string(source).render(**{"billing_account": None, **answers})


def _validate(text: str, path: Path) -> None:
    """Load the rendered file as a spec and select, so a bad answer fails before writing."""
    import tempfile

    from tierstack.generator.errors import UserError
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / path.name
        probe.write_text(text, encoding="utf-8")
        try:
            resolve(load_spec(probe))
        except UserError as err:
            err.file = path
            err.message += " (nothing was written)"
            raise
