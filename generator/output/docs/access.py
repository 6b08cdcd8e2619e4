"""The identities and what they may do: every IAM member read as a verb on a capability, an identity or a
key (`writes: data, training`), summarised per holder (`_Access`) rather than drawn as one arrow per
binding; Google's service agents and the managed accounts outside the stack with the same access as one
box; and what each grant is on, for the page's Identities table."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from tierstack.generator.output.docs.escape import code
from tierstack.generator.output.docs.model import (
    AGENTS,
    IDENTITIES,
    KEYS,
    LINE_WIDTH,
    SHORT_NAMES,
    Node,
    _node_id,
    _title,
)
from tierstack.generator.output.docs.resources import SKIPPED_KEYS, Resource, cloud_name, references

# the arguments of each kind of IAM grant that name what it is on, most specific last (a kind not listed: all
# but member, role and condition); a grant on a resource outside the stack is named by their values
GRANTED_ON = {
    "google_storage_bucket_iam_member": ("bucket",),
    "google_bigquery_dataset_iam_member": ("project", "dataset_id"),
    "google_bigquery_table_iam_member": ("project", "dataset_id", "table_id"),
    "google_pubsub_topic_iam_member": ("topic",),
    "google_artifact_registry_repository_iam_member": ("repository",),
    "google_kms_crypto_key_iam_member": ("crypto_key_id",),
    "google_service_account_iam_member": ("service_account_id",),
}
READ_ROLES = ("viewer", "reader", "subscriber", "accessor")
WRITE_ROLES = ("admin", "editor", "creator", "writer", "publisher", "owner")


def _role_name(role: str) -> str:
    return role.rsplit("/", 1)[-1].rsplit(".", 1)[-1]


@dataclass
class _Access:
    """What one identity may do, summarised: verb -> what on (capabilities, identities, keys), project roles."""

    verbs: dict[str, set[str]] = field(default_factory=dict)
    project_roles: set[str] = field(default_factory=set)

    def key(self) -> tuple[Any, ...]:
        return (tuple(sorted((v, tuple(sorted(o))) for v, o in self.verbs.items())), tuple(sorted(self.project_roles)))

    def lines(self) -> list[str]:
        out = []
        for verb in sorted(self.verbs, key=_verb_order):
            out += _wrapped(f"{verb}: ", sorted(self.verbs[verb], key=_item_order))
        if self.project_roles:
            count = len(self.project_roles)
            out.append(f"{count} role{'s' if count != 1 else ''} on the project")
        return out


VERBS = ("writes", "reads", "acts as", "signs in as", "encrypts with")


SHORT_ORDER = {short: i for i, short in enumerate(SHORT_NAMES.values())}


def _item_order(item: str) -> tuple[int, str]:
    """Capabilities in the flow's order (data before training), then identities and keys by name."""
    return (SHORT_ORDER.get(item, len(SHORT_ORDER)), item)


def _verb_order(verb: str) -> tuple[int, str]:
    return (VERBS.index(verb) if verb in VERBS else len(VERBS), verb)


def _verb(role: str) -> str:
    """What a role on a resource lets its holder do, in a word or two (any other role: its own name)."""
    name = _role_name(role)
    lowered = name.lower()
    if lowered in ("serviceaccountuser", "serviceaccounttokencreator"):
        return "acts as"
    if lowered == "workloadidentityuser":
        return "signs in as"
    if lowered.startswith("cryptokeyencrypter"):
        return "encrypts with"
    if any(word in lowered for word in WRITE_ROLES):
        return "writes"
    if any(word in lowered for word in READ_ROLES):
        return "reads"
    return name


def _wrapped(head: str, items: list[str]) -> list[str]:
    """`head` and the items, comma-separated, in lines of about LINE_WIDTH characters."""
    lines, line = [], head
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if len(line) + len(piece) > LINE_WIDTH and line.strip() and line != head:
            lines.append(line.rstrip())
            line = "  "
        line += piece + " "
    lines.append(line.rstrip())
    return lines


def _access(
    resources: list[Resource], by_address: dict[str, Resource], nodes: dict[str, Node], prefix: str
) -> tuple[dict[str, _Access], dict[str, _Access]]:
    """Each holder's access, from every IAM member: by address for the identities the stack creates, by
    IAM member for the principals it does not (a group, a Google-managed account)."""
    inside: dict[str, _Access] = {}
    outside: dict[str, _Access] = {}
    for res in resources:
        if not res.type.endswith("_iam_member"):
            continue
        member, role = str(res.body.get("member") or ""), str(res.body.get("role") or "")
        holders = [a for _, a in references(member) if a in nodes and by_address[a].type in IDENTITIES]
        keys = holders or ([member] if member else [])
        found = [inside.setdefault(a, _Access()) for a in holders] or [outside.setdefault(k, _Access()) for k in keys]
        if res.type == "google_project_iam_member":
            for access in found:
                access.project_roles.add(role)
            continue
        targets = [a for a in _grant_targets(res) if a in by_address]
        for holder, access in zip(keys, found, strict=True):
            # a service account that may act as itself: nothing to draw; a grant on a resource outside the
            # stack (a data source's table): shown on the capability that grants it
            on = {_what(by_address[t], prefix) for t in targets if t != holder} if targets else {_what(res, prefix)}
            if on:
                access.verbs.setdefault(_verb(role), set()).update(on)
    return inside, outside


def _grant_arguments(res: Resource) -> list[tuple[str, Any]]:
    """The arguments of an IAM grant that name what it is on (GRANTED_ON; for another kind, all but who and what)."""
    wanted = GRANTED_ON.get(res.type)
    if wanted is None:
        return [(k, v) for k, v in res.body.items() if k not in ("member", "role", "condition", *SKIPPED_KEYS)]
    return [(k, res.body[k]) for k in wanted if k in res.body]


def _grant_targets(res: Resource) -> list[str]:
    """The addresses of the stack's resources an IAM grant is on (none when it is on something outside)."""
    return sorted({a for _, value in _grant_arguments(res) for _, a in references(value)})


def _granted_on(res: Resource) -> list[str]:
    """What an IAM grant is on, for the Identities table: the stack's resources by address, or, outside the
    stack, the resource as the grant names it (`acme-data-lake.storefront.orders`)."""
    targets = _grant_targets(res)
    if targets:
        return [code(t) for t in targets]
    written = [str(v) for _, v in _grant_arguments(res) if isinstance(v, str) and v]
    return [code(".".join(written))] if written else []


def _what(resource: Resource, prefix: str) -> str:
    """What an identity's box says it may touch: a capability by its short name, an identity by its name
    without the stack's common prefix, a key by its name."""
    if resource.type in KEYS:
        return f"key {cloud_name(resource)}"
    if resource.type in IDENTITIES:
        name = cloud_name(resource)
        return name.removeprefix(prefix) or name
    return SHORT_NAMES[resource.capability]


def _account_prefix(resources: list[Resource]) -> str:
    """The start the stack's service account ids share, up to a `-` (`fraud-detection-`), when there are two."""
    names = [cloud_name(r) for r in resources if r.type == "google_service_account"]
    if len(names) < 2:
        return ""
    common = os.path.commonprefix(names)  # noqa: RUF071 (characters, not path components, are wanted)
    return common[: common.rfind("-") + 1]


def _identity_nodes(
    nodes: dict[str, Node],
    access: dict[str, _Access],
    outside: dict[str, _Access],
    by_address: dict[str, Resource],
    group: str,
    taken: set[str],
) -> list[Node]:
    """One box per identity the stack creates, with what it may do; Google's service agents and the
    Google-managed accounts outside the stack that may do the same are one box; other principals outside
    the stack (a group, a user) one box each."""
    out: list[Node] = []
    agents: dict[tuple[Any, ...], list[tuple[str, str, _Access]]] = {}  # access -> (member, who, access)
    for address, node in nodes.items():
        if node.kind != "identity":
            continue
        mine = access.get(address, _Access())
        if by_address[address].type in AGENTS:
            who = cloud_name(by_address[address]).removesuffix(".googleapis.com")
            agents.setdefault(mine.key(), []).append((address, who, mine))
        else:
            out.append(replace(node, label=(*node.label, *mine.lines())))
    for member, mine in sorted(outside.items()):
        kind, who = _principal_label(member)[0], _principal_label(member)[-1]
        if kind == "serviceAccount":
            agents.setdefault(mine.key(), []).append((member, _agent_name(who), mine))
        else:
            node_id = _node_id("x_", DATA_SOURCE.sub(lambda m: m.group(1), member)[:48], taken)
            out.append(Node(node_id, member, "external", group, (*_principal_label(member), *mine.lines())))
    for _, alike in sorted(agents.items(), key=lambda item: sorted(m for m, _, _ in item[1])):
        members = tuple(sorted(m for m, _, _ in alike))
        whom = sorted(who for _, who, _ in alike)
        first = members[0]
        kind = "identity" if any(m in by_address for m in members) else "external"
        if len(alike) == 1 and first in nodes:
            node = nodes[first]
            out.append(replace(node, label=(*node.label, *alike[0][2].lines())))
            continue
        head = f"{len(alike)} service agents" if len(alike) > 1 else "service agent"
        node_id = (
            nodes[first].id
            if first in nodes
            else _node_id("x_", DATA_SOURCE.sub(lambda m: m.group(1), first)[:48], taken)
        )
        label = (head, *_wrapped("", whom), *alike[0][2].lines())
        out.append(Node(node_id, first, kind, group, label, members))
    return out


def _agent_name(who: str) -> str:
    """A Google-managed account, shortly: `billing-budget-alert`, `bigquery default service account`."""
    who = who.split("@", 1)[0].removesuffix(" (data source)")
    return re.sub(r" (default|project) service account$", "", who)


DATA_SOURCE = re.compile(r"\$\{data\.(google_[a-z0-9_]+)\.[^}]*\}")


def _principal_label(member: str) -> tuple[str, ...]:
    """An IAM member the stack does not create: its kind, then who (a data source by what it reads)."""
    kind, _, who = member.partition(":")
    who = DATA_SOURCE.sub(lambda m: f"{_title(m.group(1))} (data source)", who)
    return (kind, who) if who else (kind,)
