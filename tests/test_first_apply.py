"""A fresh project's first apply needs no re-run: `tierstack apply` waits for what Google documents as
eventually consistent, plans again and applies, and reports anything else at once.

The table is generator/data/eventual_consistency.yaml (each entry with its source); the decision is
generator/services/eventual.py; the loop is operate.apply. The judges are Google's own error messages (quoted from
the sources the table names) and the real terraform binary against the provider stand-in, which a test
asks to fail the first creates of a resource with such a message (tests/standin/failures.py), as the API
does until the grant has propagated. Waits are made tiny with TIERSTACK_RETRY_WAIT_SECONDS; nothing here
measures time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from test_operate import generated, states, terraform_env, tierstack  # noqa: F401  (terraform_env: a fixture)

from conftest import REPO, run
from standin import failures
from tierstack.generator.core.errors import UserError
from tierstack.generator.services import eventual, operate

# Google's messages, as the sources in the table quote them
EVENTARC = (
    'Error creating Trigger: googleapi: Error 400: Invalid resource state for "": Permission denied while using '
    "the Eventarc Service Agent. If you recently started to use Eventarc, it may take a few minutes before all "
    "necessary permissions are propagated to the Service Agent. Otherwise, verify that it has Eventarc Service "
    "Agent role."
)
IAM_403 = (
    "Error creating Workflow: googleapi: Error 403: Permission 'iam.serviceAccounts.actAs' denied on service "
    "account retrain@p1.iam.gserviceaccount.com (or it may not exist)."
)
NOT_ENABLED = (
    "Error creating Instance: googleapi: Error 403: Notebooks API has not been used in project 123456789012 "
    "before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/"
    "notebooks.googleapis.com/overview?project=123456789012 then retry. If you enabled this API recently, wait "
    "a few minutes for the action to propagate to our systems and retry., accessNotConfigured"
)
NO_ACCOUNT = (
    'Error applying IAM policy for project "p1": googleapi: Error 400: Service account '
    "service-123456789012@gcp-sa-eventarc.iam.gserviceaccount.com does not exist., badRequest"
)
METRIC_404 = (
    'Error creating AlertPolicy: googleapi: Error 404: Cannot find metric(s) that match type = "logging.'
    'googleapis.com/user/error_total". If a metric was created recently, it could take up to 10 minutes to '
    "become available. Please try again soon."
)
UNRELATED = "Error creating Trigger: googleapi: Error 400: Invalid value for field 'resource.name': 'x'."


# --- the table ------------------------------------------------------------------------------------


def test_every_entry_has_its_source_and_waits_within_the_cap() -> None:
    known = eventual.table()
    assert {entry.name for entry in known.entries} >= {
        "iam-propagation",
        "eventarc-service-agent",
        "new-service-account",
        "log-based-metric",
    }
    for entry in known.entries:
        assert entry.source and entry.waiting_for and entry.google_says and entry.after, entry.name
        assert 0 < sum(entry.waits) <= known.cap_seconds, entry.name
        assert list(entry.waits) == sorted(entry.waits), f"{entry.name}: waits grow, never shrink"


def test_the_waits_add_up_to_what_google_says_the_delay_can_be() -> None:
    by_name = {entry.name: entry for entry in eventual.table().entries}
    iam = by_name["iam-propagation"]
    assert "typically propagate in 2 minutes, but could potentially take 7 minutes or longer" in " ".join(
        iam.source.split()
    )  # Google IAM, "Access change propagation"
    assert sum(iam.waits) == 7 * 60
    assert sum(by_name["log-based-metric"].waits) == 10 * 60  # "it could take up to 10 minutes" (issue 11102)


@pytest.mark.parametrize(
    ("message", "name"),
    [
        (EVENTARC, "eventarc-service-agent"),
        (IAM_403, "iam-propagation"),
        (NOT_ENABLED, "api-enablement"),
        (NO_ACCOUNT, "new-service-account"),
        (METRIC_404, "log-based-metric"),
    ],
)
def test_google_s_messages_match_their_entry_only(message: str, name: str) -> None:
    matching = [
        entry.name
        for entry in eventual.table().entries
        if entry.error.search(message) and not (entry.unless and entry.unless.search(message))
    ]
    assert matching == [name]


def test_an_unrelated_error_matches_no_entry() -> None:
    assert not [entry.name for entry in eventual.table().entries if entry.error.search(UNRELATED)]


# --- the decision, on a plan's JSON ---------------------------------------------------------------


def change(address: str, actions: list[str], reason: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"address": address, "mode": "managed", "type": address.split(".")[0]}
    out["change"] = {"actions": actions}
    if reason:
        out["action_reason"] = reason
    return out


def resource(address: str, depends_on: tuple[str, ...] = (), refs: tuple[str, ...] = ()) -> dict[str, Any]:
    expressions = {"member": {"references": list(refs)}} if refs else {}
    return {"address": address, "mode": "managed", "type": address.split(".")[0], "expressions": expressions} | (
        {"depends_on": list(depends_on)} if depends_on else {}
    )


AGENT = "google_project_service_identity.agent"
GRANT = "google_project_iam_member.agent_role"
TRIGGER = "google_eventarc_trigger.retrain"
TOPIC = "google_pubsub_topic.alerts"

PLAN = {
    "resource_changes": [change(a, ["create"]) for a in (AGENT, GRANT, TRIGGER, TOPIC)],
    "configuration": {
        "root_module": {
            "resources": [
                resource(AGENT),
                resource(GRANT, refs=(f"{AGENT}.member", AGENT)),
                resource(TRIGGER, depends_on=(GRANT,)),
                resource(TOPIC),
            ]
        }
    },
}


def output(*errors: tuple[str, str | None]) -> str:
    """Terraform's error output as it prints it (boxes; colour when it writes to a terminal)."""
    blocks = []
    for message, address in errors:
        lines = ["╷", f"│ \x1b[31mError: \x1b[0m{message}", "│ "]
        if address:
            lines += [f"│   with {address},", f'│   on cdk.tf.json line 9, in resource "{address.split(".")[0]}":']
        blocks.append("\n".join([*lines, "╵"]))
    return "google_pubsub_topic.alerts: Creation complete\n" + "\n".join(blocks) + "\n"


def test_a_refusal_right_after_its_grant_waits_as_the_table_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventual.WAIT_ENV, raising=False)
    decision = eventual.decide(output((EVENTARC, TRIGGER)), PLAN, attempt=1, waited=0)
    assert decision.wait is not None
    assert decision.wait.message() == (
        "waiting 60 s for Eventarc's service agent to get its permissions (Google: a few minutes), attempt 2 of 4"
    )
    assert decision.wait.reasons()[0].startswith(f"{TRIGGER} was refused right after {GRANT} was created")
    later = eventual.decide(output((EVENTARC, TRIGGER)), PLAN, attempt=3, waited=180)
    assert later.wait is not None and later.wait.seconds == 240 and later.wait.attempt == 4


def test_the_iam_message_names_its_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventual.WAIT_ENV, raising=False)
    decision = eventual.decide(output((IAM_403, TRIGGER)), PLAN, attempt=1, waited=0)
    assert decision.wait is not None
    assert decision.wait.message() == (
        "waiting 60 s for IAM grants to propagate (Google: up to 7 minutes), attempt 2 of 4"
    )


@pytest.mark.parametrize(
    ("errors", "why"),
    [
        ([(UNRELATED, TRIGGER)], ""),  # no entry's error
        ([(IAM_403, TOPIC)], ""),  # a 403 with no fresh grant behind it: a permission the deployer lacks
        ([(EVENTARC, None)], ""),  # no resource named
        ([(EVENTARC, TRIGGER), (UNRELATED, TOPIC)], "not retried: an error on google_pubsub_topic.alerts"),
    ],
    ids=["unrelated", "no-fresh-grant", "no-address", "one-unrelated-among-them"],
)
def test_anything_else_is_reported_at_once(errors: list[tuple[str, str | None]], why: str) -> None:
    decision = eventual.decide(output(*errors), PLAN, attempt=1, waited=0)
    assert decision.wait is None
    assert decision.why_not.startswith(why)


def test_an_update_refused_is_not_waited_for() -> None:
    plan = {**PLAN, "resource_changes": [change(a, ["create"]) for a in (AGENT, GRANT)] + [change(TRIGGER, ["update"])]}
    assert eventual.decide(output((EVENTARC, TRIGGER)), plan, attempt=1, waited=0).wait is None


def test_a_lazily_created_agent_is_not_waited_for() -> None:
    """Fabric issue 3788: an agent nobody creates does not exist however long one waits."""
    plan = {**PLAN, "resource_changes": [change(GRANT, ["create"])]}
    assert eventual.decide(output((NO_ACCOUNT, GRANT)), plan, attempt=1, waited=0).wait is None
    assert eventual.decide(output((NO_ACCOUNT, GRANT)), PLAN, attempt=1, waited=0).wait is not None


def test_the_retries_stop_after_the_last_wait_and_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventual.WAIT_ENV, raising=False)
    last = eventual.decide(output((EVENTARC, TRIGGER)), PLAN, attempt=4, waited=420)
    assert last.wait is None
    assert last.why_not.startswith("still refused after 4 attempts and 420 s of waiting")
    capped = eventual.decide(output((EVENTARC, TRIGGER)), PLAN, attempt=2, waited=eventual.table().cap_seconds)
    assert capped.wait is None and capped.why_not.startswith("still refused")


def test_a_bad_wait_setting_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventual.WAIT_ENV, "soon")
    with pytest.raises(UserError) as raised:
        eventual.decide(output((EVENTARC, TRIGGER)), PLAN, attempt=1, waited=0)
    assert "TIERSTACK_RETRY_WAIT_SECONDS='soon' is not a number of seconds" in str(raised.value)


def test_the_new_plan_may_only_finish_what_was_reviewed() -> None:
    left = {"resource_changes": [change(GRANT, ["no-op"]), change(TRIGGER, ["create"])]}
    assert eventual.unreviewed(PLAN, left) == []
    tainted = {"resource_changes": [change(TRIGGER, ["delete", "create"], "replace_because_tainted")]}
    assert eventual.unreviewed(PLAN, tainted) == []
    grown = {"resource_changes": [change(TRIGGER, ["create"]), change("google_storage_bucket.new", ["create"])]}
    assert eventual.unreviewed(PLAN, grown) == ["google_storage_bucket.new: create, not in the reviewed plan"]
    deleting = {"resource_changes": [change(TOPIC, ["delete"])]}
    assert eventual.unreviewed(PLAN, deleting) == ["google_pubsub_topic.alerts: delete, reviewed as create"]


# --- with terraform and the stand-in --------------------------------------------------------------

# the shape of the stacks' Eventarc trigger (modules/ml_pipelines.py): after its API and its agent's role
STACK = {
    "provider": {"google": [{"project": "p1"}], "google-beta": [{"project": "p1"}]},
    "terraform": {
        "required_providers": {
            "google": {"source": "hashicorp/google", "version": "8.7.0"},
            "google-beta": {"source": "hashicorp/google-beta", "version": "8.7.0"},
        },
        "backend": {"local": {"path": "terraform.tfstate"}},
    },
    "resource": {
        "google_project_service": {"eventarc": {"project": "p1", "service": "eventarc.googleapis.com"}},
        "google_project_service_identity": {
            "agent": {
                "provider": "google-beta",
                "project": "p1",
                "service": "eventarc.googleapis.com",
                "depends_on": ["google_project_service.eventarc"],
            }
        },
        "google_project_iam_member": {
            "agent_role": {
                "project": "p1",
                "role": "roles/eventarc.serviceAgent",
                "member": "${google_project_service_identity.agent.member}",
            }
        },
        "google_pubsub_topic": {"alerts": {"project": "p1", "name": "alerts"}},
        "google_eventarc_trigger": {
            "retrain": {
                "project": "p1",
                "location": "europe-west4",
                "name": "retrain",
                "matching_criteria": [{"attribute": "type", "value": "google.cloud.pubsub.topic.v1.messagePublished"}],
                "destination": {"workflow": "projects/p1/locations/europe-west4/workflows/retrain"},
                "transport": {"pubsub": {"topic": "${google_pubsub_topic.alerts.id}"}},
                "service_account": "retrain@p1.iam.gserviceaccount.com",
                "depends_on": ["google_project_service.eventarc", "google_project_iam_member.agent_role"],
            }
        },
    },
}
RESOURCES = 5


@pytest.fixture
def stack(terraform: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stack planned (its plan saved as `tierstack plan` saves it), terraform as tierstack runs it."""
    for name in list(os.environ):
        if name.startswith(("TF_", "GOOGLE_", "CLOUDSDK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(terraform.config))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv(eventual.WAIT_ENV, "0")
    directory = tmp_path / "first-dev"
    directory.mkdir()
    (directory / "cdk.tf.json").write_text(json.dumps(STACK, indent=2), encoding="utf-8")
    lines: list[str] = []
    tf = operate.Terraform(operate.find_binary(terraform.binary), lines.append)
    run = operate.StackRun("dev", "development", "p1", "first-dev", directory)
    operate.init(tf, run, tmp_path)
    operate.plan(tf, run, tmp_path)
    return tf, run, lines


def fail_creates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, times: int, message: str) -> Path:
    rules = tmp_path / "failures.json"
    for name, value in failures.write(
        rules, [{"type": "google_eventarc_trigger", "times": times, "message": message}]
    ).items():
        monkeypatch.setenv(name, value)
    return rules


def state_resources(run: operate.StackRun) -> int:
    return len(json.loads((run.directory / "terraform.tfstate").read_text())["resources"])


def test_a_trigger_refused_twice_is_applied_on_the_third_attempt(
    stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    tf, run, lines = stack
    rules = fail_creates(tmp_path, monkeypatch, 2, EVENTARC)
    operate.apply(tf, run, tmp_path)
    assert failures.fired(rules) == [2]
    said = "\n".join(lines)
    assert (
        "first-dev: waiting 0 s for Eventarc's service agent to get its permissions (Google: a few minutes), "
        "attempt 2 of 4" in said
    )
    assert "attempt 3 of 4" in said and "attempt 4 of 4" not in said
    assert f"first-dev: {TRIGGER} was refused right after {GRANT} was created: eventarc-service-agent" in said
    assert "(what the failed apply left to do)" in said
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in said  # the new plan: the trigger
    assert state_resources(run) == RESOURCES
    assert not run.plan_file.exists() and not run.plan_json.exists()


def test_an_unrelated_error_is_reported_without_a_retry(
    stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    tf, run, lines = stack
    rules = fail_creates(tmp_path, monkeypatch, 2, UNRELATED)
    with pytest.raises(UserError) as raised:
        operate.apply(tf, run, tmp_path)
    assert failures.fired(rules) == [1]
    assert "Invalid value for field 'resource.name'" in str(raised.value)  # terraform's words
    assert not [line for line in lines if "waiting" in line]
    assert state_resources(run) == RESOURCES - 1


def test_the_retries_stop_at_the_last_attempt(
    stack: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    tf, run, lines = stack
    rules = fail_creates(tmp_path, monkeypatch, 10, EVENTARC)
    with pytest.raises(UserError) as raised:
        operate.apply(tf, run, tmp_path)
    assert failures.fired(rules) == [4]
    assert "attempt 4 of 4" in "\n".join(lines)
    assert "Permission denied while using the Eventarc Service Agent" in str(raised.value)
    assert "still refused after 4 attempts and 0 s of waiting" in (raised.value.hint or "")
    assert run.plan_file.exists()  # the last plan stays, for `tierstack review` and the next apply


def test_the_examples_trigger_is_a_documented_case(terraform: Any, tmp_path: Path, spawns: None) -> None:
    """churn-emea's production stack, planned by terraform: its trigger waits on its agent's fresh grant."""
    from standin import mirror

    workdir = mirror.workdir_for(REPO / "examples/churn-emea/cdktf.out/stacks/churn-emea-prod", tmp_path / "w")
    plan = mirror.plan(terraform, workdir)
    trigger = "google_eventarc_trigger.ml_pipelines_retraining_trigger"
    decision = eventual.decide(output((EVENTARC, trigger)), plan, attempt=1, waited=0)
    assert decision.wait is not None
    assert decision.wait.reasons()[0].startswith(
        f"{trigger} was refused right after google_project_iam_member.ml_pipelines_eventarc_agent_role was created"
    )


def test_tierstack_apply_waits_for_a_newly_enabled_api(
    terraform_env: Any,  # noqa: F811  (the fixture of tests/test_operate.py, imported above)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    synthesizes: None,
    spawns: None,
) -> None:
    """The command itself, on a generated stack, its state in the storage emulator: the Workbench instance
    is refused once because the Notebooks API enabled seconds before is not usable yet; apply waits, plans
    again and applies what is left, and says so."""
    config = generated(tmp_path)
    assert run("bootstrap", str(config)).exit_code == 0
    assert tierstack(terraform_env, "plan", "--env", "dev", config=config).exit_code == 0
    monkeypatch.setenv(eventual.WAIT_ENV, "0")
    rules = tmp_path / "failures.json"
    rule = {"type": "google_workbench_instance", "times": 1, "message": NOT_ENABLED}
    for name, value in failures.write(rules, [rule]).items():
        monkeypatch.setenv(name, value)

    applied = tierstack(terraform_env, "apply", "--env", "dev", "--auto-approve", config=config)
    assert applied.exit_code == 0, applied.output
    assert failures.fired(rules) == [1]
    assert (
        "ledger-dev: google_workbench_instance.experimentation_workbench was refused right after "
        "google_project_service.foundation_api_notebooks was created: api-enablement"
    ) in applied.stderr
    assert (
        "ledger-dev: waiting 0 s for the newly enabled API to be usable (Google: a few minutes), attempt 2 of 4"
    ) in applied.stderr
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in applied.stderr
    assert "ledger-dev: applied" in applied.stdout
    stack = json.loads((tmp_path / "cdktf.out/stacks/ledger-dev/cdk.tf.json").read_text())
    declared = [name for kind in ("resource", "data") for items in stack.get(kind, {}).values() for name in items]
    assert states()["ledger-dev/default.tfstate"] == len(declared)  # all of it, the instance among them


def test_a_signal_during_the_wait_ends_the_run_at_once() -> None:
    """SIGTERM (a CI runner cancelling the job) while apply waits: nothing runs, so tierstack stops at once
    with 128 + the signal, saying so; its own handlers are put back."""
    import signal
    import threading

    said: list[str] = []
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(SystemExit) as stopped:
            operate._wait(600, said.append)  # without the handler: ten minutes, then no SystemExit
    finally:
        timer.cancel()
    assert stopped.value.code == 128 + signal.SIGTERM
    assert said == ["SIGTERM received while waiting: nothing is running; tierstack stops"]
    assert signal.getsignal(signal.SIGTERM) == before
