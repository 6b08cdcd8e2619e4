"""`tierstack init`: the questionnaire that writes a commented tierstack.yaml.

Every question is also a flag, so scripts can answer without a terminal
(`--no-input` takes the defaults for what is not given, and fails naming the
flag for what has no default). init asks for what generation needs later, so
the stacks of its file are complete: the alerts' receiver when the answers
select monitoring, the CI repository at tier 2, the budget's billing account,
a VPC network for a private endpoint, a batch prediction schedule and its
model. Each answer is checked when it is given, with the spec's own types
(generator/spec.py): at a prompt a bad answer is asked again with what would be
valid, and a flag is an error naming it. An answer that contradicts another
(`--stage research --serving online`) is an error naming both; an answer that
would do nothing is one too. Then the whole file is resolved as `explain`
would, before anything is written, and an existing file is only replaced with
--force. Input that ends before the last question (stdin closed, Ctrl-D) is a
UserError naming the question, exit 2, with nothing written; Ctrl-C at a
question is the CLI's "Aborted!", exit 130.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierstack.generator.choices import ANSWER_CHOICES as CHOICES

if TYPE_CHECKING:
    from tierstack.generator.catalog import Tier
    from tierstack.generator.errors import UserError
    from tierstack.generator.selection import Selection

NOT_WRITTEN = " (nothing was written)"
ABSENT = "no "  # said() of an answer not given
RESEARCH_ONLY = "research selects only experimentation and data_processing"
# what the prompts show as the expected format of an accelerator
ACCELERATOR_FORMAT = "none, gpu:TYPExN or tpu:TYPE; e.g. gpu:nvidia-l4x2, tpu:tpu-v5-litepodx4"
# answers that only apply in production, with the value that says nothing (generator/rules.py)
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
    from tierstack.generator.errors import did_you_mean

    text = typed.strip().lower()
    starting = [c for c in choices if text and c.lower().startswith(text)]
    if len(starting) == 1:
        return starting[0]
    close = did_you_mean(text, choices)
    return close.split("'")[1] if close else None


def option(key: str) -> str:
    """The flag of an answer: serving_network -> --serving-network."""
    return "--" + key.replace("_", "-")


@click.command(short_help="Answer questions, get a commented tierstack.yaml.")
@click.argument("path", required=False, default="tierstack.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", metavar="NAME", help="Use-case name, e.g. fraud-detection.")
@click.option("--team", metavar="TEAM", help="Owning team (cost label).")
@click.option(
    "--stage",
    type=SuggestingChoice(CHOICES["stage"]),
    help="research (notebooks and data preparation) or production.",
)
@click.option(
    "--mission-critical/--not-mission-critical",
    default=None,
    help="Mission critical: monitoring, evaluation, a model registry, CMEK and delete protection.",
)
@click.option(
    "--reusable/--not-reusable",
    default=None,
    help="Reused by other teams: a model registry and a shared feature store.",
)
@click.option(
    "--retraining",
    type=SuggestingChoice(CHOICES["retraining"]),
    help="none, on_degradation (monitoring notices; see --retraining-trigger) or scheduled (a pipeline on --schedule).",
)
@click.option(
    "--retraining-trigger",
    type=SuggestingChoice(CHOICES["retraining_trigger"]),
    help="With on_degradation: manual (monitoring tells the owners, who retrain) or automatic (a pipeline run).",
)
@click.option(
    "--schedule",
    metavar="CRON",
    help="Cron for scheduled retraining, e.g. '0 3 * * 1'; required with --retraining scheduled.",
)
@click.option(
    "--code-changes",
    type=SuggestingChoice(CHOICES["code_changes"]),
    help="How often its code changes: rare, or frequent (pipelines built and deployed by CI/CD).",
)
@click.option(
    "--serving",
    type=SuggestingChoice(CHOICES["serving"]),
    help="none, batch (batch prediction) or online (an endpoint, monitored).",
)
@click.option(
    "--online-experimentation/--no-online-experimentation",
    default=None,
    help="A/B tests or canaries on live traffic: a traffic split between registered models.",
)
@click.option(
    "--serving-network",
    metavar="NETWORK",
    help="Online serving: a private endpoint on this VPC network, projects/PROJECT_NUMBER/global/networks/NAME.",
)
@click.option("--batch-schedule", metavar="CRON", help="Batch serving: run batch prediction on this cron.")
@click.option(
    "--batch-model", metavar="MODEL", help="With --batch-schedule: the registered model to score, NAME@ALIAS."
)
@click.option(
    "--batch-input",
    metavar="TABLE",
    help="With --batch-schedule: the table to score, bq://PROJECT.DATASET.TABLE (default: the prepared dataset's).",
)
@click.option("--accelerator", metavar="ACCELERATOR", help="none, gpu:TYPExN (e.g. gpu:nvidia-l4x2) or tpu:TYPE.")
@click.option("--region", metavar="REGION", help="Default GCP region, e.g. europe-west4.")
@click.option(
    "--environments",
    metavar="ENV,ENV",
    help="Comma-separated, in promotion order (default: the tier's), e.g. dev,prod.",
)
@click.option("--alert-email", metavar="EMAIL", help="Who model monitoring's alerts notify (when it is selected).")
@click.option("--ci-repository", metavar="OWNER/NAME", help="Tier 2: the GitHub repository CI deploys from.")
@click.option(
    "--ci-repository-id", metavar="N", help="Tier 2: its id (gh api repos/OWNER/NAME --jq .id), which a rename keeps."
)
@click.option(
    "--ci-repository-owner-id", metavar="N", help="Tier 2: its owner's id (gh api repos/OWNER/NAME --jq .owner.id)."
)
@click.option("--budget", metavar="AMOUNT", help="Monthly budget per environment (an amount; none without it).")
@click.option("--billing-account", metavar="ID", help="Billing account id for the budgets, e.g. 012345-6789AB-CDEF01.")
@click.option(
    "--currency", metavar="CODE", help="The billing account's currency, e.g. EUR (default: the account's own)."
)
@click.option("--no-input", is_flag=True, help="Ask nothing; take defaults for what is not given.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init(path: Path, no_input: bool, force: bool, **given: Any) -> None:
    """Answer a few questions about the use case; write a commented tierstack.yaml.

    Asks for what the stacks need: an email for the alerts when monitoring is
    selected, the CI repository at tier 2, a budget's billing account. With
    --no-input, a flag without a default (--schedule with --retraining
    scheduled, --alert-email, --ci-repository...) is an error naming it.

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
    answers = Questionnaire(given, no_input).run()
    text = render(answers)
    _validate(text, path)
    from tierstack.generator.fsio import write_atomic

    write_atomic(path, text)
    click.echo(f"wrote {path}; next: tierstack validate {path}, tierstack explain {path}", err=True)
    _write_schema_beside(path)


def _write_schema_beside(config: Path) -> None:
    """The JSON Schema the config's first line names, beside it (generator/schema.py's write_beside)."""
    from tierstack.generator.schema import write_beside

    target, written = write_beside(config, "config")
    if written:
        click.echo(f"wrote {target} (for editors: the schema tierstack.yaml's first line names)", err=True)
    else:
        click.echo(f"note: {target} is not a schema tierstack wrote; left as it is", err=True)


# --- the questions -------------------------------------------------------------------------------


class Questionnaire:
    """Asks each question (or takes its flag), checks the answer, and knows which questions apply."""

    def __init__(self, given: dict[str, Any], no_input: bool) -> None:
        self.given = given
        self.no_input = no_input
        self.answers: dict[str, Any] = {}
        self.accelerator: Any = None  # the parsed AcceleratorChoice

    def run(self) -> dict[str, Any]:
        a = self.answers
        self.ask(
            "name",
            "Use-case name",
            help="3-20 lowercase letters, digits, hyphens; e.g. fraud-detection",
            required="--name is required with --no-input",
            hint="e.g. --name fraud-detection",
        )
        self.ask(
            "team",
            "Owning team",
            help="a cost label, e.g. risk-ml",
            required="--team is required with --no-input",
            hint="e.g. --team risk-ml",
        )
        self.ask("stage", "Stage", default="production")
        if a["stage"] == "production":
            self._production()
        else:
            for key in (*PRODUCTION_ANSWERS, "retraining_trigger", "schedule", "serving_network", *BATCH_ANSWERS):
                self.skip(key, self.said("stage"), RESEARCH_ONLY, True, "pass --stage production")
            a.update({"mission_critical": False, "reusable": False, "retraining": "none", "schedule": None})
            a.update({"code_changes": "rare", "serving": "none", "online_experimentation": False})
        if a.get("batch_schedule") is None:
            why = "they go with --batch-schedule, which starts batch prediction jobs"
            self.skip("batch_model", self.said("batch_schedule"), why, False, "give --batch-schedule CRON")
            self.skip("batch_input", self.said("batch_schedule"), why, False, "give --batch-schedule CRON")
        self.ask("accelerator", "Accelerator", default="none", help=ACCELERATOR_FORMAT)
        self.ask("region", "Region", default="us-central1")
        selection = self.selection()
        if a.get("batch_schedule") is not None:
            self._batch_scoring(selection)
        self.ask(
            "environments",
            "Environments",
            default=",".join(self.tier(selection).environments),
            help="comma-separated, in promotion order",
        )
        self._receivers(selection)
        self._budget()
        return a

    def _production(self) -> None:
        a = self.answers
        self.ask("mission_critical", "Mission critical?", default=False)
        self.ask("reusable", "Reused by other teams?", default=False)
        self.ask("retraining", "Retraining", default="none")
        if a["retraining"] == "on_degradation":
            self.ask("retraining_trigger", "When it degrades, retrain", default="manual")
        else:
            why = "a retraining trigger is for retraining on degradation"
            self.skip("retraining_trigger", self.said("retraining"), why, True, "pass --retraining on_degradation")
        if a["retraining"] == "scheduled":
            self.ask(
                "schedule",
                "Retraining schedule",
                help="cron: minute hour day month weekday, in UTC; e.g. 0 3 * * 1 for 03:00 every Monday",
                required="--retraining scheduled needs --schedule: the cron the retraining pipeline runs on",
                hint="e.g. --schedule '0 3 * * 1' (03:00 UTC every Monday)",
            )
        else:
            self.skip(
                "schedule",
                self.said("retraining"),
                "a schedule is for scheduled retraining",
                False,
                "pass --retraining scheduled",
            )
            a["schedule"] = None
        self.ask("code_changes", "Code changes", default="rare")
        self.ask("serving", "Serving", default="none")
        if a["serving"] == "online":
            self.ask("online_experimentation", "A/B tests or canaries on live traffic?", default=False)
            if self.given.get("serving_network") is not None or self.no_input:
                self.ask("serving_network", "VPC network", default=None)
            elif click_confirm("Private endpoint on a VPC network (no public access)?", False):
                self.ask("serving_network", "VPC network", help="projects/PROJECT_NUMBER/global/networks/NAME")
        else:
            why = "they go with --serving online"
            self.skip("online_experimentation", self.said("serving"), why, True, "pass --serving online")
            self.skip("serving_network", self.said("serving"), why, False, "pass --serving online")
            a["online_experimentation"] = False
        if a["serving"] == "batch":
            self.ask(
                "batch_schedule",
                "Batch prediction schedule",
                default="",
                help="cron, in UTC, e.g. 0 2 * * *; blank: you start batch predictions yourself",
            )
        else:
            for key in BATCH_ANSWERS:
                self.skip(
                    key,
                    self.said("serving"),
                    "batch prediction goes with --serving batch",
                    False,
                    "pass --serving batch",
                )

    def _batch_scoring(self, selection: Selection) -> None:
        """A batch prediction schedule scores a registered model on a table: both are the user's to name."""
        self.ask(
            "batch_model",
            "Registered model to score",
            help=f"NAME@ALIAS, e.g. {self.answers['name']}@default, or projects/P/locations/REGION/models/NAME@ALIAS",
            required="--batch-schedule needs --batch-model: the registered model the batch prediction scores",
            hint=f"e.g. --batch-model {self.answers['name']}@default",
        )
        if selection.has("data_processing"):  # the prepared dataset's batch_input table is the default
            if "batch_input" in self.given and self.given["batch_input"] is not None:
                self.ask("batch_input", "Table to score")
            return
        self.ask(
            "batch_input",
            "Table to score",
            help="bq://PROJECT.DATASET.TABLE",
            required="--batch-schedule needs --batch-input here: these answers select no data_processing, so "
            "there is no prepared dataset to read",
            hint="e.g. --batch-input bq://my-project.sales.to_score",
        )

    def _receivers(self, selection: Selection) -> None:
        """Who hears the alerts, and which repository CI deploys from: what the stacks cannot invent."""
        a = self.answers
        retrains = a.get("retraining") == "scheduled" or a.get("retraining_trigger") == "automatic"
        if selection.has("model_monitoring") or retrains:
            self.ask(
                "alert_email",
                "Email for alerts",
                help="the team's notification channel, e.g. ml-oncall@example.com",
                required="these answers make alert policies (monitoring, failed retraining runs), which need a "
                "receiver: pass --alert-email",
                hint="e.g. --alert-email ml-oncall@example.com",
            )
        else:
            self.skip("alert_email", "these answers", "they make no alert policy, so no alert is sent")
        tier = self.tier(selection)
        if tier.ci_cd:
            self.ask(
                "ci_repository",
                "GitHub repository CI deploys from",
                help="OWNER/NAME, or its github.com URL",
                required=f"tier {tier.level} deploys through CI, which needs the repository allowed to deploy: "
                "pass --ci-repository",
                hint="e.g. --ci-repository your-org/your-repo",
            )
            for key, what in (("ci_repository_id", ".id"), ("ci_repository_owner_id", ".owner.id")):
                self.ask(
                    key,
                    f"Its {'owner' + chr(39) + 's ' if 'owner' in key else ''}id on GitHub",
                    help=f"a number: gh api repos/{a_repo(self.answers)} --jq {what}",
                    required=f"CI signs in by the repository's immutable ids: pass --{key.replace('_', '-')}",
                    hint=f"e.g. --{key.replace('_', '-')} $(gh api repos/OWNER/NAME --jq {what})",
                )
        else:
            for key in ("ci_repository", "ci_repository_id", "ci_repository_owner_id"):
                self.skip(
                    key,
                    f"these answers (tier {tier.level})",
                    "only tier 2 deploys through CI",
                    False,
                    "pass --code-changes frequent for CI/CD",
                )

    def _budget(self) -> None:
        a = self.answers
        self.ask("budget", "Monthly budget per environment", default="", help="an amount; blank for none")
        if a["budget"] is None:
            why = "they go with --budget, the monthly amount"
            self.skip("billing_account", self.said("budget"), why, False, "give --budget AMOUNT")
            self.skip("currency", self.said("budget"), why, False, "give --budget AMOUNT")
            return
        self.ask(
            "billing_account",
            "Billing account id",
            help="e.g. 012345-6789AB-CDEF01, or billingAccounts/012345-6789AB-CDEF01",
            required="--budget needs --billing-account: the billing account the budget watches",
            hint="e.g. --billing-account 012345-6789AB-CDEF01",
        )
        self.ask(
            "currency",
            "Budget currency",
            default="",
            help="the billing account's own, e.g. EUR; blank: the account's, whatever it is",
        )

    # --- asking one question -----------------------------------------------------------------------

    def ask(
        self,
        key: str,
        label: str,
        *,
        default: Any = None,
        help: str | None = None,
        required: str | None = None,
        hint: str | None = None,
    ) -> Any:
        """The flag's value if given, else the default (--no-input), else the answer at the prompt; checked."""
        from tierstack.generator.errors import UserError

        check = self.checker(key)
        if self.given.get(key) is None and not self.no_input:
            value = self._prompt(key, label, default, help, check)
        else:
            value = self.given[key] if self.given.get(key) is not None else default
            if value is None and required:
                raise UserError(required + NOT_WRITTEN, field=option(key), hint=hint)
            if check is not None and value is not None:
                try:
                    value = check(value)
                except ValueError as exc:
                    raise UserError(str(exc) + NOT_WRITTEN, field=option(key), hint=_hint_of(exc)) from None
        self.answers[key] = value
        return value

    def _prompt(self, key: str, label: str, default: Any, help: str | None, check: Callable[[Any], Any] | None) -> Any:
        text = f"{label} ({help})" if help else label

        def proc(value: Any) -> Any:
            if check is None:
                return value
            try:
                return check(value)
            except ValueError as exc:  # click says it and asks again
                raise click.BadParameter(str(exc) + (f"\n  hint: {_hint_of(exc)}" if _hint_of(exc) else "")) from None

        with _end_of_input(label):
            if isinstance(default, bool):
                return click.confirm(text, default=default)
            if key in CHOICES:
                return click.prompt(text, default=default, type=SuggestingChoice(CHOICES[key]))
            return click.prompt(text, default=default, value_proc=proc, show_default=bool(default))

    def skip(
        self, key: str, because: str, why: str, production_default: bool = False, instead: str | None = None
    ) -> None:
        """A question that does not apply: its flag, if given (and not the answer that says nothing), is an error."""
        from tierstack.generator.errors import UserError
        from tierstack.generator.rules import PRODUCTION_ONLY_DEFAULTS

        value = self.given.get(key)
        if value is None or (production_default and value == PRODUCTION_ONLY_DEFAULTS.get(key)):
            return
        flag = _flag(key, value)
        drop = option(key) if not isinstance(value, bool) else flag
        if because.startswith(ABSENT):  # what it goes with was not given (or left blank)
            message = f"{flag} is given without {because.removeprefix(ABSENT)}: {why}"
        else:
            message = f"{flag} contradicts {because}: {why}"
        raise UserError(
            message + NOT_WRITTEN,
            hint=f"drop {drop}, or {instead}" if instead else f"drop {drop}",
        )

    def said(self, key: str) -> str:
        """How the user gave an answer, to name it in a contradiction: the flag, or the answer at the prompt."""
        value = self.answers.get(key)
        if self.given.get(key) is not None:
            return _flag(key, value)
        if self.no_input:
            return f"{_flag(key, value)} (the default)" if value is not None else ABSENT + option(key)
        return f"{option(key)} {value} (answered at the prompt)" if value is not None else ABSENT + option(key)

    # --- checking an answer ------------------------------------------------------------------------

    def checker(self, key: str) -> Callable[[Any], Any] | None:
        """The check for one answer, with the spec's own types; raises ValueError with what would be valid."""
        checks: dict[str, Callable[[Any], Any]] = {
            "name": lambda v: _typed("Name", v),
            "team": lambda v: _typed("Team", v),
            "schedule": lambda v: _typed("Cron", v),
            "batch_schedule": _blank_or(lambda v: _typed("Cron", v)),
            "accelerator": self._check_accelerator,
            "region": self._check_region,
            "environments": self._check_environments,
            "budget": _blank_or(_check_amount),
            "billing_account": lambda v: _typed("BillingAccount", billing_account_id(str(v))),
            "currency": _blank_or(lambda v: _field("Budget", "currency", v)),
            "alert_email": lambda v: _field("Variables", "alert_email", v),
            "ci_repository": lambda v: _field("Variables", "ci_repository", github_repository(str(v))),
            "ci_repository_id": lambda v: _field("Variables", "ci_repository_id", _github_id(v)),
            "ci_repository_owner_id": lambda v: _field("Variables", "ci_repository_owner_id", _github_id(v)),
            "serving_network": lambda v: _field("Variables", "serving_network", v),
            "batch_model": self._check_batch_model,
            "batch_input": _check_batch_input,
        }
        return checks.get(key)

    def _check_accelerator(self, value: str) -> str:
        from pydantic import TypeAdapter, ValidationError

        from tierstack.generator.spec import AcceleratorChoice

        try:
            choice = TypeAdapter(AcceleratorChoice).validate_python(value)
        except ValidationError as exc:
            message = _message(exc)
            nearest = nearest_accelerator(value)
            if nearest is not None and nearest != value:
                message = f"{message.split(';')[0]}; did you mean {nearest}?"
            raise ValueError(message) from None
        if choice.kind == "tpu" and self.answers.get("stage") == "research":
            raise _Invalid(
                "in research the accelerator goes on the Workbench notebook, and notebooks take GPUs, not TPUs",
                "choose a GPU (e.g. gpu:nvidia-l4x1), or --stage production for a TPU training pool",
            )
        self.accelerator = choice
        return ascii_accelerator(choice)

    def _check_region(self, value: str) -> str:
        from tierstack.generator.catalog import load_catalog
        from tierstack.generator.gcp_facts import FactError, check_region

        region = str(_typed("Region", value))
        try:  # a region that is none first: a misspelled region is not an accelerator's fault
            check_region(region)
        except FactError as err:
            raise _Invalid(err.message, err.hint or "") from None
        acc = self.accelerator
        if acc is not None and acc.type is not None:
            known = load_catalog().accelerator(acc.type)
            if known is not None and region not in known.regions:
                raise _Invalid(
                    f"{acc.type} is not offered for Vertex AI training in {region} "
                    f"(--accelerator {ascii_accelerator(acc)})",
                    f"{acc.type} is known in: {', '.join(known.regions)}",
                )
        return region

    def _check_environments(self, value: str) -> list[str]:
        from pydantic import ValidationError

        from tierstack.generator.spec import Spec

        names = [e.strip() for e in str(value).split(",") if e.strip()]
        if not names:
            raise ValueError("list at least one environment, e.g. dev")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        name = self.answers["name"]
        data = {"name": name, "team": "t", "use_case": {"stage": "research"}}
        try:  # the spec's own checks: the environment names, then the project ids <name>-<env> they give
            Spec.model_validate({**data, "environments": {n: {} for n in names}})
            Spec.model_validate({**data, "environments": {n: {"project": f"{name}-{n}"} for n in names}})
        except ValidationError as exc:
            message = _message(exc)
            if any(" " in n for n in names):
                raise _Invalid(message, "separate the environments with commas, e.g. dev,prod") from None
            if "project id" in message:
                raise _Invalid(message, "shorten the environment's name, or --name") from None
            raise ValueError(message) from None
        tier = self.tier(self.selection())
        if len(names) < len(tier.environments):
            raise _Invalid(
                f"tier {tier.level} ({tier.name}) promotes through {len(tier.environments)} environments "
                f"({', '.join(tier.environments)}), but {len(names)} {'is' if len(names) == 1 else 'are'} listed",
                "e.g. " + ",".join(tier.environments),
            )
        return names

    def _check_batch_model(self, value: str) -> str:
        """model_serving's own rule (batch_model_name), in the region answered before."""
        from tierstack.generator.gcp_facts import FactError
        from tierstack.modules.model_serving import batch_model_name

        try:
            batch_model_name(value, "PROJECT", str(self.answers.get("region") or "us-central1"))
        except FactError as err:
            raise _Invalid(err.message, err.hint or "") from None
        return value

    # --- what the answers select -------------------------------------------------------------------

    def selection(self) -> Selection:
        """The capabilities, features and tier these answers select, as explain will show them."""
        from tierstack.generator.catalog import load_catalog
        from tierstack.generator.errors import UserError
        from tierstack.generator.selection import select
        from tierstack.generator.spec import LoadedSpec, Spec

        a = self.answers
        keys = ("stage", *PRODUCTION_ANSWERS, "retraining_trigger", "schedule", "accelerator")
        use_case = {k: a[k] for k in keys if a.get(k) is not None}
        data = {"name": a["name"], "team": a["team"], "use_case": use_case, "region": a.get("region", "us-central1")}
        catalog = load_catalog()
        spec = Spec.model_validate(data, context={"catalog": catalog})
        try:
            return select(LoadedSpec(spec=spec, path=Path("tierstack.yaml"), doc=data), catalog)
        except UserError as err:
            raise _about_answers(err) from None

    @staticmethod
    def tier(selection: Selection) -> Tier:
        from tierstack.generator.catalog import load_catalog

        return load_catalog().tier(selection.tier)


class _Invalid(ValueError):
    """A bad answer, with a hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def _hint_of(exc: ValueError) -> str | None:
    return exc.hint if isinstance(exc, _Invalid) else None


def _flag(key: str, value: Any) -> str:
    """The flag that gives this answer: --serving online, --mission-critical, --not-reusable."""
    if isinstance(value, bool):
        negative = "--no-" if key == "online_experimentation" else "--not-"
        return option(key) if value else negative + key.replace("_", "-")
    if isinstance(value, list):
        value = ",".join(value)
    return f"{option(key)} {shlex.quote(str(value))}"


def click_confirm(text: str, default: bool) -> bool:
    with _end_of_input(text):
        return click.confirm(text, default=default)


@contextlib.contextmanager
def _end_of_input(question: str) -> Iterator[None]:
    """End of input at a prompt (stdin closed, Ctrl-D) is a UserError naming the question; Ctrl-C stays Abort."""
    from tierstack.generator.errors import UserError

    try:
        yield
    except (click.Abort, RuntimeError) as abort:
        # stdin closed (`0<&-`): Python has no sys.stdin and input() raises RuntimeError("lost sys.stdin")
        closed = isinstance(abort, RuntimeError) and sys.stdin is None
        if not closed and not isinstance(abort.__context__, EOFError):  # Ctrl-C: "Aborted!", exit 130
            raise
        click.echo()  # end the unanswered prompt's line
        raise UserError(
            f"init needs answers: stdin closed before '{question}'; nothing was written",
            hint="answer at a terminal, or pass --no-input with the answers as flags, e.g. "
            "tierstack init --no-input --name NAME --team TEAM (tierstack init --help lists them)",
        ) from None


def _typed(name: str, value: Any) -> Any:
    """value through one of the spec's Annotated types (spec.Name, spec.Cron...), or ValueError with its message."""
    from pydantic import TypeAdapter, ValidationError

    from tierstack.generator import spec

    try:
        return TypeAdapter(getattr(spec, name)).validate_python(value)
    except ValidationError as exc:
        raise ValueError(_message(exc)) from None


def _field(model: str, field: str, value: Any) -> Any:
    """value as one field of a spec model (spec.Variables.alert_email, spec.Budget.currency), checked as there."""
    from pydantic import ValidationError

    from tierstack.generator import spec

    try:
        return getattr(getattr(spec, model).model_validate({field: value}), field)
    except ValidationError as exc:
        raise ValueError(_message(exc)) from None


def _message(exc: Any) -> str:
    from tierstack.generator.pydantic_errors import validator_message

    return validator_message(exc.errors()[0])


def _blank_or(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """An optional answer: blank is None."""
    return lambda v: None if v is None or not str(v).strip() else check(str(v).strip())


def _check_amount(value: str) -> str:
    try:
        amount = float(value)
    except ValueError:
        raise _Invalid(f"'{value}' is not an amount", "a monthly amount per environment, e.g. 500") from None
    try:
        checked = _typed("Amount", amount)
    except ValueError as exc:
        raise _Invalid(f"'{value}': {exc}", "a monthly amount per environment, e.g. 500") from None
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


def _check_batch_input(value: str) -> str:
    """model_serving's own rule (batch_input_table) on a table given."""
    from tierstack.generator.gcp_facts import FactError
    from tierstack.modules.model_serving import batch_input_table

    try:
        batch_input_table(value, "PROJECT", "NAME", prepared=True)
    except FactError as err:
        raise _Invalid(err.message, err.hint or "") from None
    return value


def nearest_accelerator(text: str) -> str | None:
    """The valid accelerator closest to what was typed, written as one is typed: gpu:t4 -> gpu:nvidia-tesla-t4x1."""
    import difflib
    import re

    from tierstack.generator.catalog import load_catalog

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


# --- the file ------------------------------------------------------------------------------------


def render(answers: dict[str, Any]) -> str:
    """The commented tierstack.yaml for these answers (templates/tierstack.yaml.j2)."""
    from importlib import resources

    import jinja2

    source = (
        resources.files("tierstack.generator").joinpath("templates").joinpath("tierstack.yaml.j2").read_text("utf-8")
    )
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    env.globals["yesno"] = lambda v: "yes" if v else "no"
    env.filters["q"] = lambda v: json.dumps(str(v), ensure_ascii=False)
    optional: tuple[str, ...] = ("retraining_trigger", "schedule", "serving_network", "batch_schedule")
    optional += ("batch_model", "batch_input", "alert_email")
    ci = ("ci_repository", "ci_repository_id", "ci_repository_owner_id")
    blanks = dict.fromkeys((*optional, *ci, "budget", "billing_account", "currency"))
    return env.from_string(source).render(**{**blanks, **{k: v for k, v in answers.items() if v is not None}})


def _validate(text: str, path: Path) -> None:
    """Load the rendered file as a spec and resolve it, so a bad answer fails before writing.

    The file is not written yet, so a problem is told by the flag that gave the answer, not by a line.
    """
    import tempfile

    from tierstack.generator.errors import UserError
    from tierstack.generator.report import delivery_warnings
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / path.name
        probe.write_text(text, encoding="utf-8")
        try:
            plan = resolve(load_spec(probe))
        except UserError as err:
            raise _about_answers(err) from None
    silent = delivery_warnings(plan)  # init asks for the receiver: a stack from init's answers is never silent
    if silent:
        raise UserError(silent[0] + NOT_WRITTEN, field="--alert-email")


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


def _about_answers(err: UserError) -> UserError:
    """An error found in the file init would write, told by the answers' flags: the file does not exist."""
    from tierstack.generator.errors import ErrorList, UserError

    if isinstance(err, ErrorList):
        return ErrorList([_about_answers(e) for e in err.errors])
    key = answer_of(err.field)
    return UserError(
        err.message + NOT_WRITTEN,
        field=option(key) if key else err.field,
        hint=err.hint,
    )


def a_repo(answers: dict[str, Any]) -> str:
    """The repository answered so far, for the id questions' help (OWNER/NAME when not yet known)."""
    return str(answers.get("ci_repository") or "OWNER/NAME")


def _github_id(value: Any) -> int:
    """A GitHub id as typed or passed: digits, a positive integer."""
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"'{text}' is not a GitHub id: a positive number, from gh api repos/OWNER/NAME --jq .id")
    return int(text)
