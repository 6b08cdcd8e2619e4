"""An offline stand-in for hashicorp/google and google-beta, served over Terraform's plugin protocol.

Run by Terraform itself (from the filesystem mirror `mirror.py` builds), as
`provider.py google` or `provider.py google-beta`. It serves the schema
extracted from the pinned bindings (`schema/<provider>-<version>.json`, the version in
generator/facts/providers.py) over
tfplugin6 (gRPC, go-plugin handshake, mutual TLS), so the real `terraform`
binary can run init, validate, plan and apply with no network and no
credentials:

- plan: computed attributes the configuration leaves unset are unknown on
  create and keep their prior value on update; a change to an argument the
  real provider cannot update in place (`data/replace_attributes.yaml`, read
  from the provider's sources) plans a replacement;
- apply: unknowns become deterministic values derived from the resource's
  type and known arguments (service agent emails and project numbers in the
  shapes Google uses); nothing leaves the machine;
- data sources: read returns deterministic values the same way.

What it cannot know is the Google API's own validation: see docs/terraform-standin.md.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import sys
import tempfile
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import values  # noqa: E402  (a script run by Terraform: its folder is not on the path otherwise)
from values import UNKNOWN  # noqa: E402

from tierstack.generator.facts.providers import GOOGLE_PROVIDER_VERSION  # noqa: E402

VERSION = GOOGLE_PROVIDER_VERSION
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
REGENERATE = "make standin-schema (python tests/standin/extract.py)"


def load_schema(provider: str) -> dict[str, Any]:
    return json.loads((HERE / "schema" / f"{provider}-{VERSION}.json").read_text(encoding="utf-8"))


def load_api_rules() -> dict[str, list[dict[str, str]]]:
    """data/api_rules.yaml: what the Google API refuses although the provider's schema accepts it."""
    from ruamel.yaml import YAML

    loaded = YAML(typ="safe").load((HERE / "data" / "api_rules.yaml").read_text(encoding="utf-8"))
    return dict(loaded["rules"])


def _is_set(value: Any) -> bool:
    return value not in (None, [], {}, "")


def api_rule_broken(rules: dict[str, list[dict[str, str]]], type_name: str, planned: Any) -> str | None:
    """The first documented API rule `planned` breaks, as the API would say it, or None."""
    for rule in rules.get(type_name, []):
        if _is_set(planned.get(rule["when_set"])) and not _is_set(planned.get(rule["requires_set"])):
            return (
                f"{type_name}: {rule['message']} ({rule['when_set']} is set, {rule['requires_set']} is not); "
                f"source: {rule['source']}"
            )
    return None


# the types data/api_rules.yaml has rules for, so other plans never load YAML (start-up time)
RULED_TYPES = frozenset({"google_vertex_ai_feature_online_store"})


class ApiRuleError(ValueError):
    """A documented Google API rule broken: the real apply would fail with it."""


def load_replace_attributes() -> dict[str, list[str]]:
    path = HERE / "data" / "replace_attributes.yaml"
    if not path.exists():
        return {}
    from ruamel.yaml import YAML  # loaded only when an update is planned: it costs start-up time

    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return {t: list(entry.get("replace", [])) for t, entry in (data.get("resources") or {}).items()}


# --- the schema as protocol messages --------------------------------------------------------------


def _block_pb(pb: Any, block: dict[str, Any]) -> Any:
    out = pb.Schema.Block()
    for name, attr in sorted(block.get("attributes", {}).items()):
        out.attributes.append(
            pb.Schema.Attribute(
                name=name,
                type=json.dumps(attr["type"]).encode(),
                required=bool(attr.get("required")),
                optional=bool(attr.get("optional")),
                computed=bool(attr.get("computed")),
                sensitive=bool(attr.get("sensitive")),
            )
        )
    modes = {
        "list": pb.Schema.NestedBlock.LIST,
        "set": pb.Schema.NestedBlock.SET,
        "single": pb.Schema.NestedBlock.SINGLE,
    }
    for name, nested in sorted(block.get("block_types", {}).items()):
        out.block_types.append(
            pb.Schema.NestedBlock(
                type_name=name,
                block=_block_pb(pb, nested["block"]),
                nesting=modes[nested["nesting_mode"]],
                min_items=nested.get("min_items", 0),
                max_items=nested.get("max_items", 0),
            )
        )
    return out


def _schema_pb(pb: Any, schema: dict[str, Any]) -> Any:
    return pb.Schema(version=schema.get("version", 0), block=_block_pb(pb, schema["block"]))


# --- planning and applying ------------------------------------------------------------------------


def mark_computed(block: dict[str, Any], proposed: Any, config: Any) -> Any:
    """On create: every computed attribute the configuration leaves null becomes unknown."""
    if not isinstance(proposed, dict):
        return proposed
    config = config if isinstance(config, dict) else {}
    out = dict(proposed)
    for name, attr in block.get("attributes", {}).items():
        if attr.get("computed") and config.get(name) is None:
            out[name] = UNKNOWN
    for name, nested in block.get("block_types", {}).items():
        value, cfg = out.get(name), config.get(name)
        if value is None or value is UNKNOWN:
            continue
        if nested["nesting_mode"] == "single":
            out[name] = mark_computed(nested["block"], value, cfg)
        else:
            cfgs = cfg if isinstance(cfg, list) and len(cfg) == len(value) else [None] * len(value)
            out[name] = [mark_computed(nested["block"], v, c) for v, c in zip(value, cfgs, strict=True)]
    return out


def fill_unknowns(value: Any, ty: Any, seed: str, name: str) -> Any:
    if value is UNKNOWN:
        return values.invent(ty, seed, name)
    if isinstance(ty, list) and isinstance(value, dict) and ty[0] == "object":
        return {k: fill_unknowns(value.get(k), sub, values.seed_of(seed, k), k) for k, sub in ty[1].items()}
    if isinstance(ty, list) and isinstance(value, list) and ty[0] in ("list", "set"):
        return [fill_unknowns(v, ty[1], values.seed_of(seed, i), name) for i, v in enumerate(value)]
    if isinstance(ty, list) and isinstance(value, dict) and ty[0] == "map":
        return {k: fill_unknowns(v, ty[1], values.seed_of(seed, k), name) for k, v in value.items()}
    return value


def _get(value: Any, path: list[str]) -> list[Any]:
    """Every value at a dotted path, through lists of nested blocks."""
    if not path:
        return [value]
    if isinstance(value, list):
        return [v for item in value for v in _get(item, path)]
    if isinstance(value, dict):
        return _get(value.get(path[0]), path[1:])
    return [None]


def project_number(project: str) -> str:
    """The 12-digit number a project id stands for, the same everywhere in one run."""
    return str(values.number_from(values.seed_of("project", project)))


def realistic(type_name: str, obj: dict[str, Any], project: str) -> dict[str, Any]:
    """Values in the shapes Google uses, where other resources interpolate them (emails, numbers)."""
    number = project_number(obj.get("project") or obj.get("project_id") or project)
    emails = {
        "google_storage_project_service_account": f"service-{number}@gs-project-accounts.iam.gserviceaccount.com",
        "google_bigquery_default_service_account": f"bq-{number}@bigquery-encryption.iam.gserviceaccount.com",
    }
    known: dict[str, Any] = {}
    if type_name == "google_project":
        known["number"] = number
    elif type_name == "google_service_account" and obj.get("account_id"):
        email = f"{obj['account_id']}@{obj.get('project') or project}.iam.gserviceaccount.com"
        known.update(
            email=email,
            member=f"serviceAccount:{email}",
            name=f"projects/{obj.get('project') or project}/serviceAccounts/{email}",
        )
    elif type_name == "google_project_service_identity" and obj.get("service"):
        agent = str(obj["service"]).split(".")[0]
        email = f"service-{number}@gcp-sa-{agent}.iam.gserviceaccount.com"
        known.update(email=email, member=f"serviceAccount:{email}")
    elif type_name in emails:
        key = "email_address" if type_name == "google_storage_project_service_account" else "email"
        known.update({key: emails[type_name], "member": f"serviceAccount:{emails[type_name]}"})
    return known


class StandIn:
    """The provider's logic, free of gRPC so that tests can call it directly."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.schema = load_schema(provider)
        self._replace: dict[str, list[str]] | None = None
        self._api_rules: dict[str, list[dict[str, str]]] | None = None
        self.project = ""
        self.default_labels: dict[str, str] = {}
        self.attribution = True

    @property
    def api_rules(self) -> dict[str, list[dict[str, str]]]:
        if self._api_rules is None:
            self._api_rules = load_api_rules()
        return self._api_rules

    @property
    def replace(self) -> dict[str, list[str]]:
        if self._replace is None:
            self._replace = load_replace_attributes()
        return self._replace

    def resource(self, type_name: str) -> dict[str, Any]:
        return self._lookup("resource_schemas", type_name, "resource")

    def data_source(self, type_name: str) -> dict[str, Any]:
        return self._lookup("data_source_schemas", type_name, "data source")

    def _lookup(self, section: str, type_name: str, what: str) -> dict[str, Any]:
        found = self.schema[section].get(type_name)
        if found is None:
            raise KeyError(
                f"the offline stand-in for hashicorp/{self.provider} {VERSION} has no schema for "
                f"{what} type '{type_name}'; regenerate it with {REGENERATE}"
            )
        return found

    def configure(self, config: dict[str, Any] | None) -> None:
        config = config or {}
        project = config.get("project")
        self.project = project if isinstance(project, str) else ""
        labels = config.get("default_labels")
        self.default_labels = dict(labels) if isinstance(labels, dict) else {}
        self.attribution = config.get("add_terraform_attribution_label") is not False

    def with_labels(self, block: dict[str, Any], planned: dict[str, Any]) -> dict[str, Any]:
        """What the provider's SetLabelsDiff plans: labels merged with the provider's default_labels.

        `terraform_labels` and `effective_labels` are known at plan time, so a change to
        default_labels shows in the plan (and replaces a resource whose labels are immutable).
        """
        attributes = block.get("attributes", {})
        if not {"labels", "terraform_labels", "effective_labels"} <= set(attributes):
            return planned
        own = planned.get("labels")
        if own is UNKNOWN or any(v is UNKNOWN for v in (own or {}).values()):
            return {**planned, "terraform_labels": UNKNOWN, "effective_labels": UNKNOWN}
        merged = {**self.default_labels, **(own or {})}
        if self.attribution:
            merged["goog-terraform-provisioned"] = "true"
        return {**planned, "terraform_labels": merged, "effective_labels": merged}

    def plan(self, type_name: str, prior: Any, proposed: Any, config: Any) -> tuple[Any, list[list[str]]]:
        """(planned state, attribute paths that force a replacement)."""
        block = self.resource(type_name)["block"]
        if proposed is None:
            return None, []
        broken = api_rule_broken(self.api_rules, type_name, proposed) if type_name in RULED_TYPES else None
        if broken:
            raise ApiRuleError(broken)
        if prior is None:
            return self.with_labels(block, mark_computed(block, proposed, config)), []
        planned = self.with_labels(block, proposed)
        replace = []
        for path in self.replace.get(type_name, []):
            parts = path.split(".")
            if _get(prior, parts) != _get(planned, parts):
                replace.append(parts)
        if replace:  # a replacement is a create: what the API computes is unknown again
            planned = self.with_labels(block, mark_computed(block, planned, config))
        return planned, replace

    def apply(self, type_name: str, planned: Any, config: Any) -> Any:
        if planned is None:
            return None
        block = self.resource(type_name)["block"]
        return self._complete(type_name, block, planned, config)

    def read_data(self, type_name: str, config: Any) -> Any:
        block = self.data_source(type_name)["block"]
        return self._complete(type_name, block, mark_computed(block, config, config), config)

    def _complete(self, type_name: str, block: dict[str, Any], value: dict[str, Any], config: Any) -> Any:
        known = {k: v for k, v in value.items() if v is not UNKNOWN}
        seed = values.seed_of(type_name, known)
        special = {k: v for k, v in realistic(type_name, known, self.project).items() if value.get(k) is UNKNOWN}
        ty = values.block_type(block)
        filled = fill_unknowns({**value, **special}, ty, seed, type_name)
        if value.get("id") is UNKNOWN:  # ids in the provider's `type/...` shape, not the generic invented string
            filled["id"] = f"{type_name}/{seed[:16]}"
        return filled

    def upgrade(self, type_name: str, raw_json: bytes) -> Any:
        block = self.resource(type_name)["block"]
        return values.conform(json.loads(raw_json), values.block_type(block))


# --- failures on request (tests/standin/failures.py) --------------------------------------------

FAIL_CREATES_ENV = "STANDIN_FAIL_CREATES"


def _requested_failure(request: Any, codec: Any) -> str | None:
    """The Google error a test asked this create to fail with, or None (an update, or no rule left)."""
    if codec.decode(request.prior_state.msgpack) is not None:
        return None
    import failures  # beside this file; loaded only when a test asks for failures

    return failures.failure(request.type_name, codec.decode(request.planned_state.msgpack))


# --- the gRPC service -----------------------------------------------------------------------------


def _servicer(standin: StandIn, pb: Any, rpc: Any) -> Any:
    def diagnostics(error: Exception) -> list[Any]:
        return [pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=str(error).split(";")[0], detail=str(error))]

    def dynamic(value: Any) -> Any:
        return pb.DynamicValue(msgpack=values.encode(value))

    class Provider(rpc.ProviderServicer):
        def GetMetadata(self, request: Any, context: Any) -> Any:
            schema = standin.schema
            return pb.GetMetadata.Response(
                server_capabilities=pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=True),
                resources=[pb.GetMetadata.ResourceMetadata(type_name=t) for t in schema["resource_schemas"]],
                data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=t) for t in schema["data_source_schemas"]],
            )

        def GetProviderSchema(self, request: Any, context: Any) -> Any:
            schema = standin.schema
            response = pb.GetProviderSchema.Response(
                provider=_schema_pb(pb, schema["provider"]),
                server_capabilities=pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=True),
            )
            for name, body in schema["resource_schemas"].items():
                response.resource_schemas[name].CopyFrom(_schema_pb(pb, body))
            for name, body in schema["data_source_schemas"].items():
                response.data_source_schemas[name].CopyFrom(_schema_pb(pb, body))
            return response

        def ValidateProviderConfig(self, request: Any, context: Any) -> Any:
            return pb.ValidateProviderConfig.Response()

        def ValidateResourceConfig(self, request: Any, context: Any) -> Any:
            try:
                standin.resource(request.type_name)
            except KeyError as error:
                return pb.ValidateResourceConfig.Response(diagnostics=diagnostics(error))
            return pb.ValidateResourceConfig.Response()

        def ValidateDataResourceConfig(self, request: Any, context: Any) -> Any:
            try:
                standin.data_source(request.type_name)
            except KeyError as error:
                return pb.ValidateDataResourceConfig.Response(diagnostics=diagnostics(error))
            return pb.ValidateDataResourceConfig.Response()

        def UpgradeResourceState(self, request: Any, context: Any) -> Any:
            try:
                upgraded = standin.upgrade(request.type_name, request.raw_state.json)
            except KeyError as error:
                return pb.UpgradeResourceState.Response(diagnostics=diagnostics(error))
            return pb.UpgradeResourceState.Response(upgraded_state=dynamic(upgraded))

        def ConfigureProvider(self, request: Any, context: Any) -> Any:
            standin.configure(values.decode(request.config.msgpack))
            return pb.ConfigureProvider.Response()

        def ReadResource(self, request: Any, context: Any) -> Any:
            return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

        def PlanResourceChange(self, request: Any, context: Any) -> Any:
            try:
                planned, replace = standin.plan(
                    request.type_name,
                    values.decode(request.prior_state.msgpack),
                    values.decode(request.proposed_new_state.msgpack),
                    values.decode(request.config.msgpack),
                )
            except (KeyError, ApiRuleError) as error:
                return pb.PlanResourceChange.Response(diagnostics=diagnostics(error))
            paths = [
                pb.AttributePath(steps=[pb.AttributePath.Step(attribute_name=p) for p in path]) for path in replace
            ]
            return pb.PlanResourceChange.Response(
                planned_state=dynamic(planned), requires_replace=paths, planned_private=request.prior_private
            )

        def ApplyResourceChange(self, request: Any, context: Any) -> Any:
            refused = _requested_failure(request, values) if os.environ.get(FAIL_CREATES_ENV) else None
            if refused is not None:  # a test's eventually consistent error (tests/standin/failures.py)
                error = pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=refused)
                return pb.ApplyResourceChange.Response(new_state=dynamic(None), diagnostics=[error])
            try:
                new = standin.apply(
                    request.type_name,
                    values.decode(request.planned_state.msgpack),
                    values.decode(request.config.msgpack),
                )
            except KeyError as error:
                return pb.ApplyResourceChange.Response(diagnostics=diagnostics(error))
            return pb.ApplyResourceChange.Response(new_state=dynamic(new), private=request.planned_private)

        def ImportResourceState(self, request: Any, context: Any) -> Any:
            error = RuntimeError("the offline stand-in cannot import: there is no cloud behind it")
            return pb.ImportResourceState.Response(diagnostics=diagnostics(error))

        def ReadDataSource(self, request: Any, context: Any) -> Any:
            try:
                state = standin.read_data(request.type_name, values.decode(request.config.msgpack))
            except KeyError as error:
                return pb.ReadDataSource.Response(diagnostics=diagnostics(error))
            return pb.ReadDataSource.Response(state=dynamic(state))

        def GetFunctions(self, request: Any, context: Any) -> Any:
            return pb.GetFunctions.Response()

        def StopProvider(self, request: Any, context: Any) -> Any:
            return pb.StopProvider.Response()

    return Provider()


def _certificate() -> tuple[bytes, bytes, bytes]:
    """A self-signed certificate for 'localhost' (go-plugin's AutoMTLS expects one): (cert PEM, key PEM, DER)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, cert.public_bytes(serialization.Encoding.DER)


def serve(provider: str) -> int:
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE:
        print(
            "This is a Terraform provider plugin (the offline stand-in for hashicorp/"
            f"{provider}); Terraform runs it, not you.",
            file=sys.stderr,
        )
        return 1
    import grpc
    from tf.gen import grpc_controller_pb2 as controller_pb
    from tf.gen import grpc_controller_pb2_grpc as controller_rpc
    from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc
    from tf.gen import tfplugin_pb2 as pb
    from tf.gen import tfplugin_pb2_grpc as rpc

    standin = StandIn(provider)
    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    rpc.add_ProviderServicer_to_server(_servicer(standin, pb, rpc), server)

    class Controller(controller_rpc.GRPCControllerServicer):
        def Shutdown(self, request: Any, context: Any) -> Any:
            stop.set()
            return controller_pb.Empty()

    class Stdio(stdio_rpc.GRPCStdioServicer):
        def StreamStdio(self, request: Any, context: Any) -> Any:
            return iter(())

    controller_rpc.add_GRPCControllerServicer_to_server(Controller(), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(Stdio(), server)

    cert_pem, key_pem, cert_der = _certificate()
    # Terraform's client certificate (PLUGIN_CLIENT_CERT) is not verified: it is ECDSA P-521, which
    # gRPC's BoringSSL does not offer, so the client would send none. The socket lives in a
    # directory only this user can enter (mkdtemp, 0700), which is what guards the connection.
    credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)], require_client_auth=False)
    with tempfile.TemporaryDirectory(prefix="tfsi-") as tmp:
        socket = f"{tmp}/plugin.sock"
        server.add_secure_port(f"unix://{socket}", credentials)
        server.start()
        der = base64.b64encode(cert_der).decode().rstrip("=")
        sys.stdout.write(f"1|6|unix|{socket}|grpc|{der}\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):  # Terraform's Ctrl-C reaches us too; it stops us itself
            stop.wait()
        server.stop(grace=0.2)
    return 0


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1] if len(sys.argv) > 1 else "google"))
