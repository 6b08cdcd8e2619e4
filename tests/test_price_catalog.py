"""Prices from the Cloud Billing Catalog API: the real `google-cloud-billing` client (CloudCatalogClient, REST
transport, anonymous credentials) against a server on 127.0.0.1 that answers services.list and
services.skus.list with recorded catalog responses (tests/fixtures/billing_catalog/, README there says
where each record comes from), a few records a page so that the client has to follow nextPageToken.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import REPO, run
from tierstack.generator.analysis import cost, price_catalog

FIXTURES = REPO / "tests" / "fixtures" / "billing_catalog"
FRAUD = REPO / "examples" / "fraud-detection" / "tierstack.yaml"  # europe-west4: a prediction pool, an L4 training pool
FLEET = REPO / "examples" / "churn-fleet" / "churn.fleet.yaml"
CHURN_US = (str(FLEET), "--member", "churn-us")  # us-central1: a prediction pool
NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.timezone.utc)


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class CatalogServer:
    """services.list and services.skus.list from the recorded files, `page_size` records a page."""

    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        self.refuse = False  # every call answers the recorded 403 SERVICE_DISABLED
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                server.requests.append((url.path, query))
                status, body = server.answer(url.path, query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if self.refuse:
            return 403, recorded("error_service_disabled.json")
        if path == "/v1/services":
            return 200, self.page("services", recorded("services.json")["services"], query)
        parts = path.split("/")
        if len(parts) == 5 and parts[1:3] == ["v1", "services"] and parts[4] == "skus":
            file = FIXTURES / f"skus-{parts[3]}.json"
            skus = json.loads(file.read_text(encoding="utf-8"))["skus"] if file.exists() else []
            return 200, self.page("skus", skus, query)
        return 404, {"error": {"code": 404, "message": f"no {path}", "status": "NOT_FOUND"}}

    def page(self, key: str, items: list[Any], query: dict[str, list[str]]) -> dict[str, Any]:
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        chunk = items[start : start + self.page_size]
        body: dict[str, Any] = {key: chunk} if chunk else {}
        if start + self.page_size < len(items):
            body["nextPageToken"] = str(start + self.page_size)
        return body

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[CatalogServer]:
    catalog = CatalogServer()
    catalog.start()
    yield catalog
    catalog.stop()


def closed_url() -> str:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ADC anywhere (no key file, an empty gcloud configuration), the cache in a folder of this test's."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", price_catalog.ENDPOINT_ENV, price_catalog.MAX_AGE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("TIERSTACK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "prices-USD.json"


@pytest.fixture
def catalog_env(server: CatalogServer, no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client pointed at the recorded server (anonymous credentials); the cache file's path."""
    monkeypatch.setenv(price_catalog.ENDPOINT_ENV, server.url)
    return no_credentials


def cost_json(*args: str) -> dict[str, Any]:
    result = run("cost", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def lines_of(data: dict[str, Any], environment: str = "prod") -> dict[tuple[str, str], dict[str, Any]]:
    (stack,) = [s for s in data["stacks"] if s["environment"] == environment]
    return {(line["address"], line["what"]): line for line in stack["lines"]}


def figures(data: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """Every line's monthly figure (its sources name the fetch day, which an aged cache changes)."""
    return [(s["stack"], line["what"], line["monthly"]) for s in data["stacks"] for line in s["lines"]]


def kept_sku_count() -> int:
    return sum(
        1
        for name in ("skus-C7E2-9256-1C43.json", "skus-95FF-2EF5-5EA1.json")
        for sku in recorded(name)["skus"]
        if price_catalog._KEPT.match(sku["description"])
    )


# --- the recorded shapes -------------------------------------------------------------------------------------


def test_the_recorded_records_are_cloud_billing_v1_messages() -> None:
    """Every recorded Service and Sku parses into the installed client's message, unknown fields refused."""
    from google.cloud import billing_v1
    from google.protobuf import json_format
    from google.rpc import error_details_pb2, status_pb2

    for service in recorded("services.json")["services"]:
        json_format.ParseDict(service, billing_v1.Service.pb(billing_v1.Service()), ignore_unknown_fields=False)
    for name in ("skus-C7E2-9256-1C43.json", "skus-95FF-2EF5-5EA1.json"):
        for sku in recorded(name)["skus"]:
            json_format.ParseDict(sku, billing_v1.Sku.pb(billing_v1.Sku()), ignore_unknown_fields=False)
    error = recorded("error_service_disabled.json")["error"]
    details = error.pop("details")
    json_format.ParseDict(error, status_pb2.Status(), ignore_unknown_fields=True)
    for detail in details:
        body = {k: v for k, v in detail.items() if k != "@type"}
        json_format.ParseDict(body, error_details_pb2.ErrorInfo(), ignore_unknown_fields=False)
    ids = {s["displayName"]: s["serviceId"] for s in recorded("services.json")["services"]}
    assert ids["Vertex AI"] == price_catalog.VERTEX_AI == "C7E2-9256-1C43"
    assert ids["Cloud Storage"] == price_catalog.CLOUD_STORAGE == "95FF-2EF5-5EA1"
    assert ids["Compute Engine"] == "6F81-5844-456A"


# --- the real client against the recorded server ---------------------------------------------------------------


def test_the_real_client_pages_through_the_catalog(server: CatalogServer) -> None:
    from google.auth.credentials import AnonymousCredentials

    catalog = price_catalog.fetch(AnonymousCredentials(), "USD", NOW, server.url)  # type: ignore[no-untyped-call]
    assert len(catalog.skus) == kept_sku_count() > 20
    assert catalog.services == {price_catalog.VERTEX_AI: "Vertex AI", price_catalog.CLOUD_STORAGE: "Cloud Storage"}
    pages: dict[str, list[str]] = {}
    for path, query in server.requests:
        pages.setdefault(path, []).append((query.get("pageToken") or [""])[0])
        if path.endswith("/skus"):
            assert query.get("currencyCode") == ["USD"]
    vertex = recorded("skus-C7E2-9256-1C43.json")["skus"]
    assert pages["/v1/services"] == ["", "2", "4", "6", "8"]  # 9 services, 2 a page: every page read
    assert len(pages[f"/v1/services/{price_catalog.VERTEX_AI}/skus"]) == (len(vertex) + 1) // 2
    assert "Download Worldwide" not in json.dumps(catalog.skus)  # egress: no rule uses it, not kept
    assert catalog.day == "2026-12-07"


def test_a_node_hour_is_its_core_and_ram_skus_as_billed(server: CatalogServer) -> None:
    """The on-demand a3 deployment of the recorded article: 26 vCPU, 234 GiB and one H100 billed
    12.625919 USD an hour, the Core, Ram and GPU SKUs and no management fee."""
    from google.auth.credentials import AnonymousCredentials

    catalog = price_catalog.fetch(AnonymousCredentials(), "USD", NOW, server.url)  # type: ignore[no-untyped-call]
    match = price_catalog.Matcher(catalog, {})
    node = match("vertex_prediction_machine", "a3-highgpu-1g", "us-central1")
    gpu = match("vertex_prediction_accelerator", "NVIDIA_H100_80GB", "us-central1")
    assert node is not None and gpu is not None
    assert node.price + gpu.price == pytest.approx(12.625919, abs=1e-6)
    training = match("vertex_training_machine", "a3-highgpu-8g", "us-central1")
    gpus = match("vertex_training_accelerator", "NVIDIA_H100_80GB", "us-central1")
    assert training is not None and gpus is not None
    assert training.price + 8 * gpus.price == pytest.approx(90.1282656 + 6.0991216 + 4.7799648, abs=1e-6)
    assert "management fee" not in (training.via or "") + (gpus.via or "")
    assert node.source == "Cloud Billing Catalog, fetched 2026-12-07 (SKU A002-4323-D900, 2424-9F04-82A8)"
    # the us-central1 N1 rates, × 4 vCPU and × 15 GiB, give the table's sourced node hour
    n1 = match("vertex_training_machine", "n1-standard-4", "us-central1")
    assert n1 is not None and n1.price == pytest.approx(
        cost.load_prices().find("vertex_training_machine", "n1-standard-4", "us-central1").price
    )  # type: ignore[union-attr]


def catalog_of(*skus: dict[str, Any]) -> price_catalog.Catalog:
    return price_catalog.Catalog("USD", NOW, tuple(skus), {})


def sku(
    description: str, regions: list[str], unit: str, tiers: list[tuple[float, str, int]], sku_id: str = "X"
) -> dict[str, Any]:
    return {
        "name": f"services/{price_catalog.CLOUD_STORAGE}/skus/{sku_id}",
        "skuId": sku_id,
        "description": description,
        "category": {"usageType": "OnDemand"},
        "serviceRegions": regions,
        "usageUnit": unit,
        "tieredRates": [
            {"startUsageAmount": start, "unitPrice": {"currencyCode": "USD", "units": units, "nanos": nanos}}
            for start, units, nanos in tiers
        ],
    }


def test_tiers_the_matcher_can_and_cannot_use() -> None:
    free_then_rate = sku("Standard Storage US Regional", ["us-central1"], "GiBy.mo", [(0, "0", 0), (5, "0", 20000000)])
    match = price_catalog.Matcher(catalog_of(free_then_rate), {"cloud_storage_standard": "GB-month"})
    found = match("cloud_storage_standard", "standard", "us-central1")
    assert found is not None and found.price == pytest.approx(0.02) and found.unit == "GB-month"
    assert match("cloud_storage_standard", "standard", "europe-west4") is None  # not in serviceRegions
    assert match("cloud_storage_nearline", "nearline", "us-central1") is None  # no such SKU
    assert match("cloud_scheduler_job", "job", "global") is None  # no rule: the table's
    stepped = sku(
        "Standard Storage US Regional", ["us-central1"], "GiBy.mo", [(0, "0", 30000000), (100, "0", 20000000)]
    )
    assert price_catalog.Matcher(catalog_of(stepped), {})("cloud_storage_standard", "standard", "us-central1") is None
    per_second = sku("Standard Storage US Regional", ["us-central1"], "GiBy.s", [(0, "0", 1)])
    assert (
        price_catalog.Matcher(catalog_of(per_second), {})("cloud_storage_standard", "standard", "us-central1") is None
    )
    euro = copy.deepcopy(free_then_rate)
    for tier in euro["tieredRates"]:
        tier["unitPrice"]["currencyCode"] = "EUR"
    assert price_catalog.Matcher(catalog_of(euro), {})("cloud_storage_standard", "standard", "us-central1") is None


def test_a_management_fee_is_not_part_of_an_on_demand_node() -> None:
    """Even in a catalog that kept them (the cache keeps none), the fee SKUs match no rule."""
    records = [
        sku(
            "Vertex AI: Training/Pipelines on A3 Instance Core in Iowa", ["us-central1"], "h", [(0, "0", 29322700)], "C"
        ),
        sku(
            "Vertex AI: Training/Pipelines on A3 Instance RAM in Iowa",
            ["us-central1"],
            "GiBy.h",
            [(0, "0", 2553400)],
            "R",
        ),
        sku(
            "Vertex AI: Training/Pipelines management fee on A3 Instance Core in Iowa",
            ["us-central1"],
            "h",
            [(0, "0", 3824700)],
        ),
        sku(
            "Vertex AI: Training/Pipelines management fee on A3 Instance RAM in Iowa",
            ["us-central1"],
            "GiBy.h",
            [(0, "0", 333100)],
        ),
    ]
    for record in records:
        record["name"] = record["name"].replace(price_catalog.CLOUD_STORAGE, price_catalog.VERTEX_AI)
    found = price_catalog.Matcher(catalog_of(*records), {})("vertex_training_machine", "a3-highgpu-8g", "us-central1")
    assert found is not None and found.price == pytest.approx(208 * 0.0293227 + 1872 * 0.0025534)


def test_two_skus_that_disagree_are_no_price() -> None:
    one = sku("Standard Storage Netherlands", ["europe-west4"], "GiBy.mo", [(0, "0", 20000000)], "A")
    other = sku("Standard Storage Netherlands", ["europe-west4"], "GiBy.mo", [(0, "0", 23000000)], "B")
    assert (
        price_catalog.Matcher(catalog_of(one, other), {})("cloud_storage_standard", "standard", "europe-west4") is None
    )
    same = sku("Standard Storage Netherlands", ["europe-west4"], "GiBy.mo", [(0, "0", 20000000)], "C")
    found = price_catalog.Matcher(catalog_of(one, same), {})("cloud_storage_standard", "standard", "europe-west4")
    assert found is not None and "SKU A" in (found.via or "")


# --- tierstack cost with the catalog ------------------------------------------------------------------------


def test_catalog_prices_replace_the_tables_where_a_sku_matches(catalog_env: Path) -> None:
    table = cost_json(str(FRAUD), "--env", "prod", "--prices", "table")
    catalog = cost_json(str(FRAUD), "--env", "prod", "--prices", "catalog")
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    source = f"Cloud Billing Catalog, fetched {today}"
    assert catalog["prices"]["fetched"] == today and source.replace("Cloud", "the Cloud") in catalog["prices"]["origin"]
    assert table["prices"]["fetched"] is None and "shipped table" in table["prices"]["origin"]
    before, after = lines_of(table), lines_of(catalog)
    hours = 729.6
    pools = [key for key in after if key[1].startswith("deployment pool")]
    training = [key for key in after if key[1].startswith("training pool")]
    buckets = [key for key in after if key[1].startswith("bucket ")]
    assert pools and training and buckets
    for key in pools:  # n1-standard-4 in europe-west4: not priced by the table, 4 × 0.041 + 15 × 0.0055 an hour
        assert before[key]["monthly"] is None
        replicas = float(key[1].split(": ")[1].split(" ×")[0])
        assert after[key]["monthly"] == pytest.approx(replicas * hours * (4 * 0.041 + 15 * 0.0055), abs=0.01)
        (sku_source,) = after[key]["sources"]
        assert sku_source == f"{source} (SKU 0000-0000-0203, 0000-0000-0204)"  # the prediction N1 Core and Ram
    for key in training:  # g2-standard-8 + 1 L4: 8 × 0.03 + 32 × 0.0035 + 0.65 (no management fee)
        assert before[key]["monthly"] is None
        replicas = float(key[1].split(": ")[1].split(" ×")[0])
        assert after[key]["monthly"] == pytest.approx(replicas * hours * (8 * 0.03 + 32 * 0.0035 + 0.65), abs=0.01)
    shipped = cost.load_prices().entries[("cloud_storage_standard", "standard", "europe-west4")].price
    assert shipped  # in generator/data/prices.yaml since 2026-12-07
    for key in buckets:  # Standard in europe-west4: 50 GB × the table's price, then × the catalog's 0.0215
        assert before[key]["monthly"] == pytest.approx(50 * shipped, abs=0.01)
        assert after[key]["monthly"] == pytest.approx(50 * 0.0215, abs=0.01)
    assert catalog["not_priced"] < table["not_priced"]


def test_items_the_catalog_does_not_match_stay_as_before(catalog_env: Path) -> None:
    for config in ((str(FRAUD),), CHURN_US):
        table = cost_json(*config, "--prices", "table")
        catalog = cost_json(*config, "--prices", "catalog")
        for env in {s["environment"] for s in table["stacks"]}:
            before, after = lines_of(table, env), lines_of(catalog, env)
            assert before.keys() == after.keys()
            kept = [
                k for k, line in after.items() if not any("Cloud Billing Catalog" in s for s in line.get("sources", []))
            ]
            assert kept, "scheduler jobs, pipeline runs and logs have no catalog rule"
            for key in kept:
                assert after[key] == before[key], key


def test_the_cache_is_written_and_used_without_a_server(
    catalog_env: Path, server: CatalogServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cost_json(*CHURN_US, "--prices", "catalog")
    assert catalog_env.is_file()
    cached = json.loads(catalog_env.read_text(encoding="utf-8"))
    assert cached["currency"] == "USD" and cached["fetched"].startswith(first["prices"]["fetched"])
    assert len(cached["skus"]) == kept_sku_count()
    requests = len(server.requests)
    monkeypatch.setenv(price_catalog.ENDPOINT_ENV, closed_url())  # nothing answers there now
    again = cost_json(*CHURN_US, "--prices", "catalog")
    assert len(server.requests) == requests
    assert "(cached; cache " in again["prices"]["origin"]
    assert again["stacks"] == first["stacks"]
    monkeypatch.delenv(price_catalog.ENDPOINT_ENV)  # and without credentials at all, in auto mode
    assert cost_json(*CHURN_US)["stacks"] == first["stacks"]


def age(path: Path, days: int) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    data["fetched"] = old.strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps(data), encoding="utf-8")


def test_a_stale_cache_is_refreshed_when_credentials_exist(catalog_env: Path, server: CatalogServer) -> None:
    cost_json(*CHURN_US, "--prices", "catalog")
    age(catalog_env, 40)
    requests = len(server.requests)
    data = cost_json(*CHURN_US)  # auto
    assert len(server.requests) > requests
    assert "fetched now" in data["prices"]["origin"]
    assert json.loads(catalog_env.read_text(encoding="utf-8"))["fetched"].startswith(data["prices"]["fetched"])


def test_a_stale_cache_without_credentials_is_used_with_a_note(
    catalog_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cost_json(*CHURN_US, "--prices", "catalog")
    age(catalog_env, 40)
    monkeypatch.delenv(price_catalog.ENDPOINT_ENV)
    data = cost_json(*CHURN_US)
    assert figures(data) == figures(first)
    (note,) = data["prices"]["notes"]
    assert "40 days old (older than 30" in note and "no Google Cloud credentials" in note
    monkeypatch.setenv(price_catalog.MAX_AGE_ENV, "60")  # the documented setting: not stale then
    assert cost_json(*CHURN_US)["prices"]["notes"] == []
    text = run("cost", *CHURN_US)
    assert "prices: the Cloud Billing Catalog, fetched " in text.stdout


def test_no_credentials_is_the_table_and_no_error(no_credentials: Path) -> None:
    auto = cost_json(str(FRAUD))
    table = cost_json(str(FRAUD), "--prices", "table")
    assert auto["stacks"] == table["stacks"]
    assert auto["prices"]["origin"] == table["prices"]["origin"] == cost.load_prices().origin
    assert table["prices"]["origin"].startswith("the shipped table (generator/data/prices.yaml, read 2026-")
    (note,) = auto["prices"]["notes"]
    assert "no Google Cloud credentials" in note and "gcloud auth application-default login" in note
    assert f"note: {note}" in run("cost", str(FRAUD), "--format", "json").stderr  # beside the data, for a person
    assert not no_credentials.exists()
    text = run("cost", str(FRAUD))
    assert text.exit_code == 0 and "prices: the shipped table (generator/data/prices.yaml, read 2026-" in text.stdout


def test_a_403_names_the_api_and_the_fix(catalog_env: Path, server: CatalogServer) -> None:
    server.refuse = True
    result = run("cost", str(FRAUD), "--prices", "catalog")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "Cloud Billing Catalog API (cloudbilling.googleapis.com) denied the request (403)" in result.stderr
    assert "Cloud Billing API has not been used in project 123456789012" in result.stderr
    assert "gcloud services enable cloudbilling.googleapis.com" in result.stderr
    assert "roles/serviceusage.serviceUsageConsumer" in result.stderr
    assert "--prices table" in result.stderr
    assert result.stdout == ""
    auto = cost_json(str(FRAUD))  # auto: the table, with the refusal as a note
    assert auto["prices"]["fetched"] is None
    assert any(
        "denied the request (403)" in note and "shipped table is used" in note for note in auto["prices"]["notes"]
    )
    assert not catalog_env.exists()


def test_an_unreachable_api_is_exit_2_in_catalog_mode(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = closed_url()
    monkeypatch.setenv(price_catalog.ENDPOINT_ENV, closed)
    result = run("cost", str(FRAUD), "--prices", "catalog")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"cannot reach the Cloud Billing Catalog API (cloudbilling.googleapis.com) at {closed}" in result.stderr
    refresh = run("cost", str(FRAUD), "--refresh-prices")
    assert refresh.exit_code == 2
    assert "cannot reach" in refresh.stderr


def test_refresh_prices_with_the_table_is_a_contradiction(no_credentials: Path) -> None:
    result = run("cost", str(FRAUD), "--prices", "table", "--refresh-prices")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--refresh-prices" in result.stderr and "--prices table" in result.stderr


def test_a_damaged_cache_is_ignored_with_a_note(catalog_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog_env.parent.mkdir(parents=True)
    catalog_env.write_text("{not json", encoding="utf-8")
    monkeypatch.delenv(price_catalog.ENDPOINT_ENV)
    data = cost_json(str(FRAUD))
    assert any("was ignored" in note and "not valid JSON" in note for note in data["prices"]["notes"])


def test_a_bad_max_age_is_one_clear_error(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(price_catalog.MAX_AGE_ENV, "a month")
    result = run("cost", str(FRAUD))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "TIERSTACK_PRICES_MAX_AGE_DAYS is 'a month'" in result.stderr


def test_catalog_mode_without_credentials_names_gcloud_login(tmp_path: Path, spawns: None) -> None:
    """A fresh process without ADC: no key file, an empty gcloud configuration, no metadata server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "TIERSTACK_BILLING"))}
    env.update(
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
        NO_GCE_CHECK="true",  # never probe a metadata server (google-auth reads this at import)
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
        TIERSTACK_CACHE=str(tmp_path / "cache"),
    )
    command = [sys.executable, "-m", "tierstack.generator.cli", "cost", str(FRAUD), "--prices", "catalog"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "no Google Cloud credentials for the Cloud Billing Catalog API" in result.stderr
    assert "gcloud auth application-default login" in result.stderr
