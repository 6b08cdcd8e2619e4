"""`tierstack init`'s questions, in the order they are asked: which apply follows from the answers so far.

Each answer, from a prompt or its flag, is checked when it is given (init_answers.py); a bad answer at a
prompt is asked again with what would be valid, and a bad flag is an error naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierstack.generator.cli.init_answers import (
    ABSENT,
    ACCELERATOR_FORMAT,
    BATCH_ANSWERS,
    NOT_WRITTEN,
    PRODUCTION_ANSWERS,
    RESEARCH_ONLY,
    InvalidAnswer,
    SuggestingChoice,
    a_repo,
    about_answers,
    as_spec_field,
    as_spec_type,
    ascii_accelerator,
    billing_account_id,
    blank_or,
    check_amount,
    check_batch_input,
    click_confirm,
    end_of_input,
    first_error_message,
    flag_of,
    github_id,
    github_repository,
    hint_of,
    nearest_accelerator,
    option,
)
from tierstack.generator.config.choices import ANSWER_CHOICES as CHOICES

if TYPE_CHECKING:
    from tierstack.generator.facts.catalog import Tier
    from tierstack.generator.plan.selection import Selection


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
        from tierstack.generator.core.errors import UserError

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
                    raise UserError(str(exc) + NOT_WRITTEN, field=option(key), hint=hint_of(exc)) from None
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
                raise click.BadParameter(str(exc) + (f"\n  hint: {hint_of(exc)}" if hint_of(exc) else "")) from None

        with end_of_input(label):
            if isinstance(default, bool):
                return click.confirm(text, default=default)
            if key in CHOICES:
                return click.prompt(text, default=default, type=SuggestingChoice(CHOICES[key]))
            return click.prompt(text, default=default, value_proc=proc, show_default=bool(default))

    def skip(
        self, key: str, because: str, why: str, production_default: bool = False, instead: str | None = None
    ) -> None:
        """A question that does not apply: its flag, if given (and not the answer that says nothing), is an error."""
        from tierstack.generator.core.errors import UserError
        from tierstack.generator.plan.rules import PRODUCTION_ONLY_DEFAULTS

        value = self.given.get(key)
        if value is None or (production_default and value == PRODUCTION_ONLY_DEFAULTS.get(key)):
            return
        flag = flag_of(key, value)
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
            return flag_of(key, value)
        if self.no_input:
            return f"{flag_of(key, value)} (the default)" if value is not None else ABSENT + option(key)
        return f"{option(key)} {value} (answered at the prompt)" if value is not None else ABSENT + option(key)

    # --- checking an answer ------------------------------------------------------------------------

    def checker(self, key: str) -> Callable[[Any], Any] | None:
        """The check for one answer, with the spec's own types; raises ValueError with what would be valid."""
        checks: dict[str, Callable[[Any], Any]] = {
            "name": lambda v: as_spec_type("Name", v),
            "team": lambda v: as_spec_type("Team", v),
            "schedule": lambda v: as_spec_type("Cron", v),
            "batch_schedule": blank_or(lambda v: as_spec_type("Cron", v)),
            "accelerator": self._check_accelerator,
            "region": self._check_region,
            "environments": self._check_environments,
            "budget": blank_or(check_amount),
            "billing_account": lambda v: as_spec_type("BillingAccount", billing_account_id(str(v))),
            "currency": blank_or(lambda v: as_spec_field("Budget", "currency", v)),
            "alert_email": lambda v: as_spec_field("Variables", "alert_email", v),
            "ci_repository": lambda v: as_spec_field("Variables", "ci_repository", github_repository(str(v))),
            "ci_repository_id": lambda v: as_spec_field("Variables", "ci_repository_id", github_id(v)),
            "ci_repository_owner_id": lambda v: as_spec_field("Variables", "ci_repository_owner_id", github_id(v)),
            "serving_network": lambda v: as_spec_field("Variables", "serving_network", v),
            "batch_model": self._check_batch_model,
            "batch_input": check_batch_input,
        }
        return checks.get(key)

    def _check_accelerator(self, value: str) -> str:
        from pydantic import TypeAdapter, ValidationError

        from tierstack.generator.config.spec import AcceleratorChoice

        try:
            choice = TypeAdapter(AcceleratorChoice).validate_python(value)
        except ValidationError as exc:
            message = first_error_message(exc)
            nearest = nearest_accelerator(value)
            if nearest is not None and nearest != value:
                message = f"{message.split(';')[0]}; did you mean {nearest}?"
            raise ValueError(message) from None
        if choice.kind == "tpu" and self.answers.get("stage") == "research":
            raise InvalidAnswer(
                "in research the accelerator goes on the Workbench notebook, and notebooks take GPUs, not TPUs",
                "choose a GPU (e.g. gpu:nvidia-l4x1), or --stage production for a TPU training pool",
            )
        self.accelerator = choice
        return ascii_accelerator(choice)

    def _check_region(self, value: str) -> str:
        from tierstack.generator.facts.catalog import load_catalog
        from tierstack.generator.plan.gcp_facts import FactError, check_region

        region = str(as_spec_type("Region", value))
        try:  # a region that is none first: a misspelled region is not an accelerator's fault
            check_region(region)
        except FactError as err:
            raise InvalidAnswer(err.message, err.hint or "") from None
        acc = self.accelerator
        if acc is not None and acc.type is not None:
            known = load_catalog().accelerator(acc.type)
            if known is not None and region not in known.regions:
                raise InvalidAnswer(
                    f"{acc.type} is not offered for Vertex AI training in {region} "
                    f"(--accelerator {ascii_accelerator(acc)})",
                    f"{acc.type} is known in: {', '.join(known.regions)}",
                )
        return region

    def _check_environments(self, value: str) -> list[str]:
        from pydantic import ValidationError

        from tierstack.generator.config.spec import Spec

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
            message = first_error_message(exc)
            if any(" " in n for n in names):
                raise InvalidAnswer(message, "separate the environments with commas, e.g. dev,prod") from None
            if "project id" in message:
                raise InvalidAnswer(message, "shorten the environment's name, or --name") from None
            raise ValueError(message) from None
        tier = self.tier(self.selection())
        if len(names) < len(tier.environments):
            raise InvalidAnswer(
                f"tier {tier.level} ({tier.name}) promotes through {len(tier.environments)} environments "
                f"({', '.join(tier.environments)}), but {len(names)} {'is' if len(names) == 1 else 'are'} listed",
                "e.g. " + ",".join(tier.environments),
            )
        return names

    def _check_batch_model(self, value: str) -> str:
        """model_serving's own rule (batch_model_name), in the region answered before."""
        from tierstack.generator.plan.gcp_facts import FactError
        from tierstack.modules.model_serving import batch_model_name

        try:
            batch_model_name(value, "PROJECT", str(self.answers.get("region") or "us-central1"))
        except FactError as err:
            raise InvalidAnswer(err.message, err.hint or "") from None
        return value

    # --- what the answers select -------------------------------------------------------------------

    def selection(self) -> Selection:
        """The capabilities, features and tier these answers select, as explain will show them."""
        from tierstack.generator.config.spec import LoadedSpec, Spec
        from tierstack.generator.core.errors import UserError
        from tierstack.generator.facts.catalog import load_catalog
        from tierstack.generator.plan.selection import select

        a = self.answers
        keys = ("stage", *PRODUCTION_ANSWERS, "retraining_trigger", "schedule", "accelerator")
        use_case = {k: a[k] for k in keys if a.get(k) is not None}
        data = {"name": a["name"], "team": a["team"], "use_case": use_case, "region": a.get("region", "us-central1")}
        catalog = load_catalog()
        spec = Spec.model_validate(data, context={"catalog": catalog})
        try:
            return select(LoadedSpec(spec=spec, path=Path("tierstack.yaml"), doc=data), catalog)
        except UserError as err:
            raise about_answers(err) from None

    @staticmethod
    def tier(selection: Selection) -> Tier:
        from tierstack.generator.facts.catalog import load_catalog

        return load_catalog().tier(selection.tier)
