"""`tierstack init`: the questionnaire that writes a commented tierstack.yaml.

Every question is also a flag, so scripts can answer without a terminal
(`--no-input` takes the defaults for what is not given, and fails naming the
flag for what has no default). init asks for what generation needs later, so
the stacks of its file are complete: the alerts' receiver when the answers
select monitoring, the CI repository at tier 2, the budget's billing account,
a VPC network for a private endpoint, a batch prediction schedule and its
model. Each answer is checked when it is given, with the spec's own types
(generator/config/spec.py): at a prompt a bad answer is asked again with what would be
valid, and a flag is an error naming it. An answer that contradicts another
(`--stage research --serving online`) is an error naming both; an answer that
would do nothing is one too. Then the whole file is resolved as `explain`
would, before anything is written, and an existing file is only replaced with
--force. Input that ends before the last question (stdin closed, Ctrl-D) is a
UserError naming the question, exit 2, with nothing written; Ctrl-C at a
question is the CLI's "Aborted!", exit 130.

The questions are in init_questions.py, what an answer may be and how it is checked in
init_answers.py; this module holds the command and the file it writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tierstack.generator.cli.init_answers import (
    NOT_WRITTEN,
    SuggestingChoice,
    about_answers,
)
from tierstack.generator.cli.init_questions import Questionnaire
from tierstack.generator.cli.options import exit_codes
from tierstack.generator.cli.views import echo
from tierstack.generator.config.choices import ANSWER_CHOICES as CHOICES
from tierstack.generator.core.exit_codes import EXIT_OK, EXIT_USER_ERROR

if TYPE_CHECKING:
    pass


@click.command(
    short_help="Answer questions, get a commented tierstack.yaml.",
    epilog=exit_codes(
        {
            EXIT_OK: "written",
            EXIT_USER_ERROR: "a bad answer or flag, an existing file (without --force), input that\n"
            "ended before the last question (use --no-input with flags)",
        }
    ),
)
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
    from tierstack.generator.core.errors import UserError

    if path.exists() and not force:
        raise UserError(
            "already exists; not replacing it", file=path, hint="pass --force to replace it, or give another path"
        )
    answers = Questionnaire(given, no_input).run()
    text = render(answers)
    _validate(text, path)
    from tierstack.generator.core.fsio import write_atomic

    write_atomic(path, text)
    echo(f"wrote {path}; next: tierstack validate {path}, tierstack explain {path}", err=True)
    _write_schema_beside(path)


def _write_schema_beside(config: Path) -> None:
    """The JSON Schema the config's first line names, beside it (generator/output/schema.py's write_beside)."""
    from tierstack.generator.output.schema import write_beside

    target, written = write_beside(config, "config")
    if written:
        echo(f"wrote {target} (for editors: the schema tierstack.yaml's first line names)", err=True)
    else:
        echo(f"note: {target} is not a schema tierstack wrote; left as it is", err=True)


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

    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.output.report import delivery_warnings
    from tierstack.generator.plan.resolve import resolve

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / path.name
        probe.write_text(text, encoding="utf-8")
        try:
            plan = resolve(load_spec(probe))
        except UserError as err:
            raise about_answers(err) from None
    silent = delivery_warnings(plan)  # init asks for the receiver: a stack from init's answers is never silent
    if silent:
        raise UserError(silent[0] + NOT_WRITTEN, field="--alert-email")
