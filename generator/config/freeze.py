"""Change freezes: windows in which production changes wait (ML-SRE practice around critical periods).

`tierstack.yaml` lists them under `freezes:` (the models are in generator/config/spec.py;
the checks their fields use are here). A window is a date range (`start`/`end`)
or a weekly window (`weekly: {start: fri 18:00, end: mon 08:00}`), read in its
`time_zone` (UTC unless set). It applies to the environments it names, or to
every production environment.

`tierstack review` asks `check` whether a stack with changes to apply is inside
a window at a moment (the clock is injectable: `--at`, default now), and an
explicit override reason turns a block into a recorded exception. Only the
standard library is imported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from tierstack.generator.config.spec import Freeze, Spec

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
_DAY_NAMES = {
    **{day: i for i, day in enumerate(DAYS)},
    **{
        name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    },
}
_MOMENT_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?$", re.ASCII)
_OFFSET_RE = re.compile(r"(Z|[+-]\d{2}:?\d{2})\Z", re.ASCII)
_WEEK_TIME_RE = re.compile(r"^([A-Za-z]+)\s+(\d{1,2}):(\d{2})$", re.ASCII)
FREEZE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MINUTES_A_WEEK = 7 * 24 * 60

MOMENT_HINT = "write a date such as 2026-11-20 or a date and time such as 2026-11-20T18:00"
WEEK_TIME_HINT = "write a day and a 24-hour time such as 'fri 18:00' (days: " + ", ".join(DAYS) + ")"


# --- the checks the spec's fields use (pydantic calls them; ValueError messages reach the user) ----


def check_freeze_name(value: str) -> str:
    if not FREEZE_NAME_RE.fullmatch(value):
        raise ValueError(
            f"'{value}' cannot name a freeze: lowercase letters, digits, '-' and '_', 1-63 long, e.g. black-friday"
        )
    return value


def check_moment(value: Any) -> str:
    """A date or a date and time without an offset (the window's time_zone says where): its canonical text.

    YAML reads `2026-11-20` as a date and `2026-11-20T18:00` as text; both arrive here.
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError(f"'{value.isoformat()}' has a UTC offset; {MOMENT_HINT} and set the freeze's time_zone")
        return _moment_text(value, is_date=False)
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    if text is None:
        raise ValueError(f"{value!r} is not a date; {MOMENT_HINT}")
    if len(text) > 10 and _OFFSET_RE.search(text[10:]):
        raise ValueError(f"'{text}' has a UTC offset; {MOMENT_HINT} and set the freeze's time_zone")
    try:
        moment, is_date = parse_moment(text)
    except ValueError as error:
        raise ValueError(f"'{text}' is not a date or a date and time ({error}); {MOMENT_HINT}") from None
    return _moment_text(moment, is_date)


def parse_moment(text: str) -> tuple[datetime, bool]:
    """(naive datetime, whether only a date was given) from check_moment's text."""
    match = _MOMENT_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    day = date.fromisoformat(match.group(1))
    if match.group(2) is None:
        return datetime.combine(day, time()), True
    hour, minute, second = int(match.group(2)), int(match.group(3)), int(match.group(4) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day (00:00 to 23:59)")
    return datetime.combine(day, time(hour, minute, second)), False


def _moment_text(moment: datetime, is_date: bool) -> str:
    if is_date:
        return moment.date().isoformat()
    return moment.isoformat(timespec="seconds" if moment.second else "minutes")


def check_week_time(value: Any) -> str:
    """A day of the week and a time, 'fri 18:00': its canonical text (lowercase three-letter day)."""
    text = value.strip() if isinstance(value, str) else None
    match = _WEEK_TIME_RE.fullmatch(text) if text is not None else None
    if match is None:
        raise ValueError(f"{value!r} is not a day and time of the week; {WEEK_TIME_HINT}")
    day = _DAY_NAMES.get(match.group(1).lower())
    if day is None:
        raise ValueError(f"'{match.group(1)}' is not a day of the week; {WEEK_TIME_HINT}")
    hour, minute = int(match.group(2)), int(match.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(f"'{text}': {hour:02d}:{minute:02d} is not a time of day (00:00 to 23:59); {WEEK_TIME_HINT}")
    return f"{DAYS[day]} {hour:02d}:{minute:02d}"


def minute_of_week(text: str) -> int:
    """Minutes since Monday 00:00 for check_week_time's text."""
    day, _, clock = text.partition(" ")
    hour, _, minute = clock.partition(":")
    return DAYS.index(day) * 24 * 60 + int(hour) * 60 + int(minute)


def date_range_error(start: str, end: str) -> str | None:
    """Why start..end is not a window (None when it is). An `end` given as a date is inclusive."""
    begin, _ = parse_moment(start)
    stop = _end_of(end)
    if stop <= begin:
        return f"the freeze ends ({end}) before it starts ({start}); a date as `end` means the whole of that day"
    return None


def _end_of(end: str) -> datetime:
    moment, is_date = parse_moment(end)
    return moment + timedelta(days=1) if is_date else moment


# --- the clock -----------------------------------------------------------------------------------


def parse_at(text: str) -> datetime:
    """`--at`: an ISO 8601 date or timestamp, UTC unless it carries an offset ('Z' works on Python 3.10 too)."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"'{text}' is not an ISO 8601 timestamp; write e.g. 2026-11-27T09:30:00Z (UTC) or 2026-11-27T10:30+01:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def now() -> datetime:
    return datetime.now(timezone.utc)


# --- windows -------------------------------------------------------------------------------------


def contains(freeze: Freeze, at: datetime) -> bool:
    """Whether the moment `at` (aware) is inside the freeze's window, read in the freeze's time zone."""
    zone = ZoneInfo(freeze.time_zone)
    if freeze.weekly is not None:
        local = at.astimezone(zone)
        minute = local.weekday() * 24 * 60 + local.hour * 60 + local.minute
        start, end = minute_of_week(freeze.weekly.start), minute_of_week(freeze.weekly.end)
        return start <= minute < end if start < end else minute >= start or minute < end
    if freeze.start is None or freeze.end is None:  # the model allows neither; be safe
        return False
    begin = parse_moment(freeze.start)[0].replace(tzinfo=zone)
    stop = _end_of(freeze.end).replace(tzinfo=zone)
    return begin <= at < stop


def describe(freeze: Freeze) -> str:
    """The window in words: 'every week from fri 18:00 to mon 08:00 (UTC)', '2026-11-20 to 2026-11-30 (...)'."""
    if freeze.weekly is not None:
        return f"every week from {freeze.weekly.start} to {freeze.weekly.end} ({freeze.time_zone})"
    whole_days = "whole days, " if "T" not in (freeze.end or "") else ""
    return f"{freeze.start} to {freeze.end} ({whole_days}{freeze.time_zone})"


def applies_to(freeze: Freeze, environment: str, role: str | None) -> bool:
    """The environments the freeze names, or every production environment when it names none."""
    if freeze.environments is not None:
        return environment in freeze.environments
    return role == "production"


@dataclass(frozen=True)
class Target:
    """A stack a plan would change, with where it lives (environment and role, from the config)."""

    stack: str
    environment: str
    role: str | None


@dataclass(frozen=True)
class Hit:
    """A freeze that is on for a stack with changes to apply."""

    freeze: str
    reason: str
    window: str
    stack: str
    environment: str


@dataclass(frozen=True)
class FreezeCheck:
    """What review found about freezes: the moment, the configs read, the hits and any override."""

    at: datetime
    configs: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = ()
    override: str | None = None
    unchecked: tuple[str, ...] = field(default=())  # stacks with changes whose config was not found

    @property
    def blocked(self) -> bool:
        return bool(self.hits) and self.override is None

    @property
    def overridden(self) -> bool:
        return bool(self.hits) and self.override is not None


def check(freezes: Sequence[Freeze], targets: Iterable[Target], at: datetime) -> tuple[Hit, ...]:
    """Every (freeze, stack) pair where the freeze applies to the stack's environment and is on at `at`."""
    hits = []
    for target in targets:
        for freeze in freezes:
            if applies_to(freeze, target.environment, target.role) and contains(freeze, at):
                hits.append(Hit(freeze.name, freeze.reason, describe(freeze), target.stack, target.environment))
    return tuple(hits)


# --- from plans to the configs that hold their freezes --------------------------------------------

CDKTF_MARK = "written by tierstack generate"  # the start of cdktf.json's "//" (generator/output/generate.py)


def find_config(plan: str | Path) -> Path | None:
    """The tierstack.yaml a plan's stack was generated from, when the plan sits in its stack directory.

    `generate` writes DIR/stacks/<stack>/cdk.tf.json and, beside DIR, a cdktf.json whose `app` names
    the config (`tierstack generate CONFIG --out DIR`); failing that, a tierstack.yaml beside DIR.
    """
    stack_dir = Path(plan).absolute().parent
    if stack_dir.parent.name != "stacks":
        return None
    out = stack_dir.parent.parent
    data = _cdktf_json(out.parent / "cdktf.json")
    if isinstance(data, dict) and str(data.get("//", "")).startswith(CDKTF_MARK) and data.get("output") == out.name:
        app = str(data.get("app", ""))
        config = app.removeprefix("tierstack generate ").rsplit(" --out ", 1)[0]
        if app.startswith("tierstack generate ") and (out.parent / config).is_file():
            return out.parent / config
    beside = out.parent / "tierstack.yaml"
    return beside if beside.is_file() else None


# cdktf.json is a few hundred bytes; one of the CDK CLI's own projects a few KiB
MAX_CDKTF_JSON_BYTES = 1024 * 1024


def _cdktf_json(path: Path) -> Any:
    """cdktf.json beside an output directory, through the bounded reader; None when there is none.

    It decides which tierstack.yaml's freezes a plan is checked against, so one that is there but cannot be
    read (a FIFO, a sparse 4 GB file, not JSON, JSON nested a hundred thousand levels) is a UserError naming
    it, never a hang, a crash, or a silent fall back to another config.
    """
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.core import fsio

    if not (path.exists() or path.is_symlink()):
        return None
    return fsio.read_json(
        path,
        "cdktf.json",
        MAX_CDKTF_JSON_BYTES,
        hint="it names the tierstack.yaml whose freezes apply: fix or remove it, or give --config",
        shown=display_path(path),
    )


def targets(spec: Spec, stacks: Iterable[tuple[str, str | None]], config: Path) -> list[Target]:
    """Each (stack, environment label) of a plan as a Target of this spec; a stack of another config is an error."""
    from tierstack.generator.core.errors import UserError, one_of
    from tierstack.generator.plan.resolve import environment_role

    names = list(spec.environments) if spec.environments else None
    out = []
    for stack, label in stacks:
        env = label or stack.removeprefix(f"{spec.name}-")
        if stack != f"{spec.name}-{env}" or (names is not None and env not in names):
            ours = one_of(f"{spec.name}-{e}" for e in names) if names else f"'{spec.name}-<environment>'"
            raise UserError(
                f"the plan of stack '{stack}' is not for a stack of this config ({ours})",
                file=config,
                hint="pass the tierstack.yaml the stacks were generated from with --config",
            )
        if names is not None and spec.environments is not None:
            role = environment_role(env, names.index(env), len(names), spec.environments[env].role)
        else:  # the tier's environments: dev, staging, prod, read from their names
            role = environment_role(env, 0, 1, None)
        out.append(Target(stack, env, role))
    return out


def check_member_plans(
    stacks: Sequence[tuple[str, str | None, str]],
    members: Sequence[tuple[Spec, str]],
    fleet: Path,
    at: datetime,
    override: str | None,
) -> FreezeCheck:
    """The freezes of a fleet's members (each spec with how the fleet names it), checked at `at` for the
    stacks given, each against the member whose stacks it is (`<name>-<environment>`)."""
    from tierstack.generator.core.errors import UserError

    by_member: dict[str, list[tuple[str, str | None]]] = {label: [] for _, label in members}
    for stack, environment, _ in stacks:
        owners = [(len(spec.name), label) for spec, label in members if stack.startswith(f"{spec.name}-")]
        owner = max(owners)[1] if owners else None  # the longest name: churn-us-east-dev is churn-us-east's
        if owner is None:
            raise UserError(
                f"the plan of stack '{stack}' is of no member of the fleet",
                file=fleet,
                hint="review it with the tierstack.yaml or fleet file it was generated from (--config)",
            )
        by_member[owner].append((stack, environment))
    hits: list[Hit] = []
    for spec, label in members:
        hits += check(spec.freezes, targets(spec, by_member[label], fleet), at)
    return FreezeCheck(at=at, configs=tuple(by_member), hits=tuple(hits), override=override)


def check_plans(
    stacks: Sequence[tuple[str, str | None, str]], config: Path | None, at: datetime, override: str | None
) -> FreezeCheck:
    """The freezes of each plan's config, checked at `at` for the stacks (stack, environment, plan file) given."""
    from tierstack.generator.config.spec import load_spec

    by_config: dict[Path, list[tuple[str, str | None]]] = {}
    unchecked = []
    for stack, environment, source in stacks:
        found = config or (find_config(source) if source != "-" else None)
        if found is None:
            if stack not in unchecked:
                unchecked.append(stack)
        else:
            by_config.setdefault(found, []).append((stack, environment))
    if config is not None:  # read even when no plan changes anything: a wrong --config says so at once
        by_config.setdefault(config, [])
    hits: list[Hit] = []
    for path, items in by_config.items():
        spec = load_spec(path).spec
        hits += check(spec.freezes, targets(spec, items, path), at)
    return FreezeCheck(
        at=at,
        configs=tuple(str(p) for p in by_config),
        hits=tuple(hits),
        override=override,
        unchecked=tuple(unchecked),
    )
