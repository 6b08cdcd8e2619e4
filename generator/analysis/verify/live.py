"""What the API says: the Vertex AI resources read back, and the access problems that stop a read.

What is there comes from the Vertex AI API (v1) through `google-cloud-aiplatform`'s GAPIC clients
over REST, imported only when verify runs, one client per thread and region. Access problems (no
credentials, a 403, a project that does not exist or is hidden (403 CONSUMER_INVALID), the API not
enabled, a quota hit (429), no network) stop the run with one message per project (a UserError, exit 2).

For tests, TIERSTACK_VERTEX_API_ENDPOINT=http://127.0.0.1:PORT sends every call to that address with
anonymous credentials, as STORAGE_EMULATOR_HOST does for Cloud Storage.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

from tierstack.generator.analysis.verify.model import COLLECTIONS, Kind, Live
from tierstack.generator.core.errors import UserError

ENDPOINT_ENV = "TIERSTACK_VERTEX_API_ENDPOINT"
ADC_HINT = "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a key file)"
NETWORK_HINT = "check the network connection, DNS and any proxy (HTTPS_PROXY), then run `tierstack verify` again"


def _live(kind: Kind, message: Any) -> Live:
    """Reduce a proto-plus message of the aiplatform_v1 types to a Live."""
    name = str(message.name)
    parts = name.split("/")
    region = parts[3] if len(parts) > 3 else ""
    fields = type(message).pb(message).DESCRIPTOR.fields_by_name
    key = str(message.encryption_spec.kms_key_name) if "encryption_spec" in fields else ""
    labels = dict(message.labels) if "labels" in fields else {}
    spec: dict[str, Any] = {}
    state = None
    if kind == "endpoint":
        logging = message.predict_request_response_logging_config
        spec = {
            "request_logging": bool(logging.enabled),
            "sampling_rate": float(logging.sampling_rate) if logging.enabled else None,
            "deployed": [_deployed(m) for m in message.deployed_models],
        }
    elif kind == "deployment_resource_pool":
        spec = _dedicated(message.dedicated_resources)
    elif kind == "persistent_resource":
        spec = {
            "pools": [
                {
                    "machine_type": p.machine_spec.machine_type or None,
                    "accelerator_type": _accelerator(p.machine_spec),
                    "accelerator_count": int(p.machine_spec.accelerator_count),
                    "replica_count": int(p.replica_count),
                    "min_replicas": int(p.autoscaling_spec.min_replica_count) if "autoscaling_spec" in p else None,
                    "max_replicas": int(p.autoscaling_spec.max_replica_count) if "autoscaling_spec" in p else None,
                }
                for p in message.resource_pools
            ]
        }
        state = message.state.name
    elif kind == "feature_online_store":
        storage = "bigtable" if "bigtable" in message else "optimized"
        scaling = message.bigtable.auto_scaling
        spec = {
            "storage": storage,
            "min_nodes": int(scaling.min_node_count) if storage == "bigtable" else None,
            "max_nodes": int(scaling.max_node_count) if storage == "bigtable" else None,
        }
        state = message.state.name
    return Live(kind, name, parts[-1], region, labels, key or None, spec, state)


def _accelerator(machine: Any) -> str | None:
    value = machine.accelerator_type
    return None if int(value) == 0 else str(value.name)


def _dedicated(dedicated: Any) -> dict[str, Any]:
    low = int(dedicated.min_replica_count)
    high = int(dedicated.max_replica_count) or low  # 0: "the smaller value of min_replica_count or 1"
    return {
        "machine_type": dedicated.machine_spec.machine_type or None,
        "accelerator_type": _accelerator(dedicated.machine_spec),
        "accelerator_count": int(dedicated.machine_spec.accelerator_count),
        "min_replicas": low,
        "max_replicas": high,
    }


def _deployed(model: Any) -> dict[str, Any]:
    shown = model.display_name or model.id
    if "dedicated_resources" in model:
        return {"model": shown, "id": model.id, "resources": "dedicated", **_dedicated(model.dedicated_resources)}
    if "automatic_resources" in model:
        automatic = model.automatic_resources
        return {
            "model": shown,
            "id": model.id,
            "resources": "automatic",
            "min_replicas": int(automatic.min_replica_count),
            "max_replicas": int(automatic.max_replica_count) or int(automatic.min_replica_count),
        }
    pool = str(model.shared_resources).split("/")[-1]
    return {"model": shown, "id": model.id, "resources": "shared_resources", "pool": pool}


# --- reading ----------------------------------------------------------------------------------------


class AccessError(Exception):
    """The API refused or could not answer for a whole project; becomes one UserError line."""

    def __init__(self, project: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.project, self.message, self.hint = project, message, hint


class Reader:
    """Reads Vertex AI v1 resources with the GAPIC clients over REST, one client per thread and region."""

    SERVICES: ClassVar[dict[Kind, tuple[str, str, str]]] = {  # kind -> (client class, get method, list method)
        "endpoint": ("EndpointServiceClient", "get_endpoint", "list_endpoints"),
        "deployment_resource_pool": (
            "DeploymentResourcePoolServiceClient",
            "get_deployment_resource_pool",
            "list_deployment_resource_pools",
        ),
        "metadata_store": ("MetadataServiceClient", "get_metadata_store", "list_metadata_stores"),
        "persistent_resource": (
            "PersistentResourceServiceClient",
            "get_persistent_resource",
            "list_persistent_resources",
        ),
        "feature_online_store": (
            "FeatureOnlineStoreAdminServiceClient",
            "get_feature_online_store",
            "list_feature_online_stores",
        ),
    }

    def __init__(self, credentials: Any, endpoint: str | None) -> None:
        with _quiet():
            from google.cloud import aiplatform_v1

        self._module = aiplatform_v1
        self._credentials = credentials
        self.credentials = credentials  # also the data sources' (generator/analysis/data_sources_check.py)
        self._endpoint = endpoint  # None: the regional endpoint, https://<region>-aiplatform.googleapis.com
        self._local = threading.local()
        self._lock = threading.Lock()
        self.requests = 0

    def api_host(self, region: str) -> str:
        return self._endpoint or f"https://{region}-aiplatform.googleapis.com"

    def _client(self, kind: Kind, region: str) -> Any:
        cache = self._local.__dict__.setdefault("clients", {})
        key = (kind, region)
        if key not in cache:
            cls = getattr(self._module, self.SERVICES[kind][0])
            cache[key] = cls(
                credentials=self._credentials, transport="rest", client_options={"api_endpoint": self.api_host(region)}
            )
        return cache[key]

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def get(self, kind: Kind, project: str, region: str, resource_id: str) -> Live | None:
        from google.api_core import exceptions

        name = f"projects/{project}/locations/{region}/{COLLECTIONS[kind]}/{resource_id}"
        self._count()
        try:
            with _quiet():
                message = getattr(self._client(kind, region), self.SERVICES[kind][1])(name=name, timeout=30)
        except exceptions.NotFound:
            return None
        except Exception as exc:
            raise self._access_error(exc, project, region) from None
        return _live(kind, message)

    def list(self, kind: Kind, project: str, region: str) -> list[Live]:
        parent = f"projects/{project}/locations/{region}"
        self._count()
        try:
            with _quiet():
                pager = getattr(self._client(kind, region), self.SERVICES[kind][2])(parent=parent, timeout=30)
                return [_live(kind, m) for m in pager]
        except Exception as exc:
            raise self._access_error(exc, project, region, listing=True) from None

    def _access_error(self, exc: Exception, project: str, region: str, listing: bool = False) -> Exception:
        """The message and hint for an API error; what is not an access problem stays a bug.

        A network failure is checked first: google-auth's TransportError (a token refresh that could
        not reach Google) is a GoogleAuthError too, and is no refusal of the credentials."""
        from google.api_core import exceptions
        from google.auth import exceptions as auth_exceptions

        host = self.api_host(region)
        if _unreachable(exc):
            return AccessError(
                project,
                f"cannot reach the Vertex AI API at {host}: {_first_line(exc)}",
                NETWORK_HINT,
            )
        if isinstance(exc, auth_exceptions.GoogleAuthError | exceptions.Unauthenticated):
            return AccessError(project, f"the credentials were refused: {_first_line(exc)}", ADC_HINT)
        if isinstance(exc, exceptions.PermissionDenied | exceptions.Forbidden):
            return _denied(exc, project)
        if isinstance(exc, exceptions.TooManyRequests):  # ResourceExhausted is one
            return AccessError(
                project,
                f"a Vertex AI API quota or rate limit was hit in project '{project}' (429 RESOURCE_EXHAUSTED): "
                f"{_api_message(exc)}",
                "wait a minute and run `tierstack verify` again; if it keeps happening, verify one environment "
                "at a time or ask for a higher quota (https://cloud.google.com/docs/quotas/help/request_increase)",
            )
        if isinstance(exc, exceptions.NotFound) and listing:
            return AccessError(
                project,
                f"project '{project}' or location '{region}' not found (404): {_api_message(exc)}",
                "check the project id in tierstack.yaml (environments.<env>.project) and that the project exists",
            )
        if isinstance(exc, exceptions.GoogleAPICallError):
            return AccessError(
                project, f"the Vertex AI API answered {exc.code}: {_api_message(exc)}", "try again later"
            )
        return exc


def _denied(exc: Any, project: str) -> AccessError:
    """A 403: the project does not exist (or is hidden), the API is off, or a permission is missing.

    Google APIs answer a project that does not exist, or that the caller cannot see, with 403
    PERMISSION_DENIED and ErrorInfo reason CONSUMER_INVALID, not with a 404."""
    text = _api_message(exc)
    reason = _reason(exc)
    if reason == "CONSUMER_INVALID":
        return AccessError(
            project,
            f"project '{project}' does not exist or you cannot see it (403 CONSUMER_INVALID): {text}",
            f"check the project id in tierstack.yaml (environments.<env>.project), and that the account verify "
            f"runs as can see it: `gcloud projects describe {project}`",
        )
    if reason == "SERVICE_DISABLED" or "has not been used" in text or "is disabled" in text:
        return AccessError(
            project,
            f"the Vertex AI API is not enabled in project '{project}' (403 SERVICE_DISABLED): {text}",
            "has the stack been applied? `tierstack apply --env ENV` enables it (foundation's project services)",
        )
    return AccessError(
        project,
        f"permission denied in project '{project}' (403): {text}",
        f"the identity verify runs as needs roles/aiplatform.viewer on project '{project}'",
    )


def _reason(exc: Any) -> str | None:
    """The google.rpc.ErrorInfo reason of an API error. Over REST google-api-core keeps the details as
    JSON objects, and its own `reason` property then fails on them, so they are read here."""
    for detail in getattr(exc, "details", None) or []:
        if isinstance(detail, dict):
            if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                return str(detail.get("reason") or "") or None
        elif type(detail).__name__ == "ErrorInfo":  # gRPC: the parsed message
            return str(detail.reason) or None
    return None


def _api_message(exc: Any) -> str:
    return str(getattr(exc, "message", "") or exc).strip()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover - a dependency of google-auth's transport
        return False
    from google.api_core import exceptions

    return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | exceptions.RetryError)


def _unreachable(exc: BaseException) -> bool:
    """A network failure (no route, no name resolution, refused, timed out), raised as it is or as the
    cause of google-auth's TransportError or RefreshError (a metadata server that does not answer)."""
    from google.auth import exceptions as auth_exceptions

    seen: BaseException | None = exc
    for _ in range(8):  # the chain of causes is short; a cycle must not hang
        if seen is None:
            return False
        if isinstance(seen, auth_exceptions.TransportError) or _is_connection_error(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """google-api-core's Python-version FutureWarning and google-auth's quota-project UserWarning are
    not for tierstack's users: nothing but tierstack's own messages reaches the terminal."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"google\..*")
        yield


def connect() -> Reader:
    """A Reader with the caller's credentials (Application Default Credentials), or, with
    TIERSTACK_VERTEX_API_ENDPOINT set, anonymous credentials against that address."""
    endpoint = os.environ.get(ENDPOINT_ENV) or None
    with _quiet():
        import google.auth
        from google.auth import exceptions as auth_exceptions
        from google.auth.credentials import AnonymousCredentials

        if endpoint:
            return Reader(AnonymousCredentials(), endpoint)  # type: ignore[no-untyped-call]
        try:
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            import google.auth.transport.requests

            credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]  # fail here, once, not in every thread
        except auth_exceptions.DefaultCredentialsError as exc:
            raise UserError(f"no Google Cloud credentials: {_first_line(exc)}", hint=ADC_HINT) from None
        except Exception as exc:  # a network failure first: TransportError is a GoogleAuthError too
            if _unreachable(exc):
                raise UserError(
                    f"cannot reach Google to refresh the credentials: {_first_line(exc)}", hint=NETWORK_HINT
                ) from None
            if isinstance(exc, auth_exceptions.GoogleAuthError):
                raise UserError(
                    f"the Google Cloud credentials were refused: {_first_line(exc)}", hint=ADC_HINT
                ) from None
            raise
    return Reader(credentials, None)
