"""setup_prefect.py and prefect.yaml: checks before any work, and a real apply run twice.

The apply tests run against Prefect's temporary server (the `prefect_server` fixture); GCP is
never contacted: the key file is generated here and only parsed, as setup_prefect does.
"""

from __future__ import annotations

import ast
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

import setup_prefect
from flows.runlog import WARNING_STATE
from setup_prefect import PROJECT_ROOT, SetupError
from tests.gcp.emulators import fake_gcs  # noqa: F401 (fixture)

# The entrypoints the platform schedules (issue 5): each must be deployed.
ENTRYPOINTS = {
    "flows/odre/flow.py:ingest_odre",
    "flows/meteofrance/flow.py:ingest_weather",
    "flows/pipeline.py:load_staging",
    "flows/transform.py:transform",
    "flows/forecast/flow.py:predict",
    "flows/forecast/flow.py:train",
    "flows/pipeline.py:backfill",
    "flows/pipeline.py:daily_pipeline",
}
PROJECT = "aggregat-test-1"


def specs(env: str = "dev") -> list[dict[str, Any]]:
    """prefect.yaml's deployments rendered for an environment, as `prefect deploy` sees them."""
    values = {"AGGREGAT_ENV": env, "AGGREGAT_CODE_DIR": str(PROJECT_ROOT)}
    return setup_prefect.read_deployments(setup_prefect.PREFECT_YAML, values)


def flow_function(entrypoint: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The module-level function an entrypoint names, read from the file without importing it."""
    path, name = entrypoint.rsplit(":", 1)
    tree = ast.parse((PROJECT_ROOT / path).read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node
    return None


def is_flow(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    names = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
    return any(getattr(n, "id", getattr(n, "attr", None)) == "flow" for n in names)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A service-account key file of PROJECT with a real (generated, never used) RSA key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": f"aggregat-dev-worker@{PROJECT}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "worker-key.json"
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def gcp_env(settings, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The gcp profile of an environment as terraform's aggregat_env output describes it."""
    for key, value in {
        "AGGREGAT_PROFILE": "gcp",
        "AGGREGAT_GCP_PROJECT": PROJECT,
        "AGGREGAT_LAKE_URL": "gs://aggregat-test-lake",
        "AGGREGAT_STAGING_DATASET": "staging_dev",
        "AGGREGAT_GCP_CREDENTIALS_FILE": str(key_file),
        "AGGREGAT_ODRE_API_KEY": "not-for-the-pool",
    }.items():
        monkeypatch.setenv(key, value)
    return key_file


# --- prefect.yaml -----------------------------------------------------------------------------


def test_every_scheduled_flow_is_deployed_once_per_environment():
    dev, prod = specs("dev"), specs("prod")
    assert {s["entrypoint"] for s in dev} == ENTRYPOINTS
    assert all(s["name"].endswith("-dev") for s in dev)
    assert all(
        s["work_pool"]["name"] == "aggregat-dev" and "aggregat-dev" in s["tags"] for s in dev
    )
    assert [s["name"].removesuffix("-dev") for s in dev] == [
        s["name"].removesuffix("-prod") for s in prod
    ]
    by_name = {s["name"].removesuffix("-dev"): s for s in dev}
    assert by_name["backfill"]["schedules"] == []
    assert by_name["odre-eco2mix-hourly"]["parameters"] == {"datasets": ["eco2mix-national-tr"]}
    assert by_name["train-weekly"]["schedules"][0]["cron"].endswith(" * * 1")
    datasets = {d for s in dev for d in s["parameters"].get("datasets", [])}
    assert datasets == {
        "eco2mix-national-tr",
        "eco2mix-national-cons-def",
        "stock-quotidien-stockages-gaz",
        "temperature-quotidienne-regionale",
    }


def test_load_and_dbt_are_chained_by_events_one_run_at_a_time():
    by_name = {s["name"].removesuffix("-dev"): s for s in specs("dev")}
    for name in ("load-staging", "transform"):
        spec = by_name[name]
        assert spec["schedules"] == [], f"{name} runs on events, not on a cron"
        assert spec["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
        assert spec["work_pool"]["work_queue_name"] == setup_prefect.WAREHOUSE_QUEUE
    (load,) = by_name["load-staging"]["triggers"]
    assert load["expect"] == ["prefect.flow-run.Completed", f"prefect.flow-run.{WARNING_STATE}"]
    tags = {
        r["prefect.resource.id"]
        if isinstance(r["prefect.resource.id"], str)
        else tuple(r["prefect.resource.id"])
        for r in load["match_related"]
    }
    assert tags == {
        "prefect.tag.aggregat-dev",
        ("prefect.tag.odre", "prefect.tag.weather", "prefect.tag.predict"),
    }
    # The forecast's rows reach staging like a source's: its predict run triggers the load.
    assert "predict" in by_name["predict-daily"]["tags"]
    (dbt,) = by_name["transform"]["triggers"]
    from flows.pipeline import STAGING_LOADED

    assert dbt["expect"] == [STAGING_LOADED]
    assert dbt["match"] == {"prefect.resource.id": "aggregat.warehouse.dev"}
    # Every flow that writes the warehouse shares the one-at-a-time queue; ingests do not.
    for name, spec in by_name.items():
        writes_lake_only = name.startswith(("odre-", "weather-"))
        queue = spec["work_pool"]["work_queue_name"]
        assert (queue == "default") if writes_lake_only else (queue == "warehouse"), name


def test_job_sizes_fit_each_flow():
    by_name = {s["name"].removesuffix("-dev"): s for s in specs("dev")}

    def size(name: str) -> dict[str, Any]:
        return by_name[name]["work_pool"]["job_variables"]

    def gib(memory: str) -> float:
        return float(memory.removesuffix("Gi"))

    for name, spec in by_name.items():
        variables = spec["work_pool"]["job_variables"]
        assert set(variables) == {"cpu", "memory", "timeout", "max_retries"}, name
        assert variables["timeout"] > 600 and variables["max_retries"] >= 1, name
    assert gib(size("train-weekly")["memory"]) > gib(size("odre-gas-daily")["memory"])
    assert gib(size("weather-arpege-00z")["memory"]) >= 4
    assert size("backfill")["timeout"] >= 6 * 3600


def test_prefect_yaml_is_valid_for_prefect_deploy_too():
    """`prefect deploy` reads the same file: it must pass Prefect's own model of it."""
    import yaml
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.cli.deploy._triggers import _initialize_deployment_triggers

    model = PrefectYamlModel.model_validate(yaml.safe_load(setup_prefect.PREFECT_YAML.read_text()))
    assert len(model.deployments) == len(specs())
    assert all(d.work_pool.name == "aggregat-{{ $AGGREGAT_ENV }}" for d in model.deployments)
    for spec in specs():
        # Schedules carry slugs, or `prefect deploy` cannot update what it deployed before.
        assert all(s.get("slug") for s in spec["schedules"]), spec["name"]
        _initialize_deployment_triggers(spec["name"], spec.get("triggers") or [])


@pytest.mark.parametrize("entrypoint", sorted(ENTRYPOINTS))
def test_entrypoint_file_defines_the_flow_with_those_parameters(entrypoint: str):
    path = PROJECT_ROOT / entrypoint.rsplit(":", 1)[0]
    assert path.is_file(), f"{path} does not exist"
    node = flow_function(entrypoint)
    assert node is not None, f"{entrypoint}: no such function"
    assert is_flow(node), f"{entrypoint} is not decorated with @flow"
    accepted = {a.arg for a in node.args.args + node.args.kwonlyargs}
    for spec in specs():
        if spec["entrypoint"] == entrypoint:
            unknown = set(spec["parameters"]) - accepted
            assert not unknown, f"{spec['name']} passes {unknown} that {entrypoint} does not take"


def test_every_entrypoint_loads_in_a_fresh_interpreter_as_a_worker_loads_it():
    setup_prefect.check_entrypoints(sorted(ENTRYPOINTS))


def test_an_entrypoint_that_cannot_import_is_refused_naming_the_file(tmp_path: Path):
    broken = PROJECT_ROOT / "flows" / "_broken_for_test.py"
    broken.write_text("from flows.no_such_module import nothing\n")
    try:
        with pytest.raises(SetupError, match=r"flows/_broken_for_test.py:x: .*no_such_module"):
            setup_prefect.check_entrypoints(["flows/_broken_for_test.py:x"])
    finally:
        broken.unlink()
    with pytest.raises(SetupError, match="flows/absent.py does not exist"):
        setup_prefect.check_entrypoints(["flows/absent.py:x"])


def test_schedules_are_valid_cron_in_known_timezones():
    from prefect.client.schemas.schedules import CronSchedule

    for spec in specs():
        for schedule in spec["schedules"]:
            assert set(schedule) <= {"cron", "timezone", "active", "slug"}, spec["name"]
            assert schedule["timezone"] in {"UTC", "Europe/Paris"}, spec["name"]
            CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])


def test_unknown_placeholder_and_duplicate_names_are_refused(tmp_path: Path):
    bad = tmp_path / "prefect.yaml"
    bad.write_text(
        "deployments:\n  - name: x-{{ $AGGREGAT_BUCKET }}\n    entrypoint: flows/pipeline.py:backfill\n"
        "    work_pool: {name: p}\n"
    )
    values = {"AGGREGAT_ENV": "dev", "AGGREGAT_CODE_DIR": "/code"}
    with pytest.raises(SetupError, match="deployment x-.* unknown placeholder"):
        setup_prefect.read_deployments(bad, values)
    twice = "  - name: a\n    entrypoint: flows/pipeline.py:backfill\n    work_pool: {name: p}\n"
    bad.write_text("deployments:\n" + twice + twice)
    with pytest.raises(SetupError, match="more than once"):
        setup_prefect.read_deployments(bad, values)


# --- checks before any work -----------------------------------------------------------------


def test_missing_credentials_file_fails_before_any_work(gcp_env, monkeypatch, capsys):
    monkeypatch.setenv("AGGREGAT_GCP_CREDENTIALS_FILE", "/nowhere/key.json")
    assert setup_prefect.main(["dev"]) == 2
    err = capsys.readouterr().err
    assert "/nowhere/key.json" in err and "AGGREGAT_GCP_CREDENTIALS_FILE" in err


def test_key_of_another_project_is_refused(gcp_env, monkeypatch):
    monkeypatch.setenv("AGGREGAT_GCP_PROJECT", "some-other-project")
    with pytest.raises(
        SetupError, match="belongs to project 'aggregat-test-1'.*some-other-project"
    ):
        setup_prefect.make_plan("dev", check_code=False)


def test_broken_key_file_is_refused(gcp_env):
    info = json.loads(gcp_env.read_text())
    gcp_env.write_text(json.dumps(info | {"private_key": "-----BEGIN PRIVATE KEY-----\nxx\n"}))
    with pytest.raises(SetupError, match="unusable private key"):
        setup_prefect.make_plan("dev", check_code=False)
    gcp_env.write_text("{not json")
    with pytest.raises(SetupError, match="not a JSON key file"):
        setup_prefect.make_plan("dev", check_code=False)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AGGREGAT_GCP_PROJECT", "", "AGGREGAT_GCP_PROJECT is not set"),
        ("AGGREGAT_GCP_PROJECT", "Not_A_Project", "not a valid GCP project id"),
        ("AGGREGAT_LAKE_URL", "data/lake", "must be gs://<bucket>"),
    ],
)
def test_gcp_settings_are_checked(gcp_env, monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SetupError, match=message):
        setup_prefect.make_plan("dev", check_code=False)


def test_environment_mismatch_and_unknown_environment_are_refused(settings, tmp_path):
    (tmp_path / ".env.dev").write_text("AGGREGAT_ENV=prod\n")
    with pytest.raises(SetupError, match="AGGREGAT_ENV is 'prod'.*'dev'"):
        setup_prefect.make_plan("dev", check_code=False)
    with pytest.raises(SetupError, match="unknown environment 'staging'"):
        setup_prefect.make_plan("staging", check_code=False)


def test_environment_file_feeds_the_work_pool_but_secrets_do_not(gcp_env, tmp_path):
    (tmp_path / ".env.dev").write_text("AGGREGAT_PRODUCTION_DATASET=production_dev\n")
    plan = setup_prefect.make_plan("dev", check_code=False)
    env = setup_prefect.worker_env(plan)
    assert env["AGGREGAT_PRODUCTION_DATASET"] == "production_dev"
    assert env["AGGREGAT_STAGING_DATASET"] == "staging_dev"
    assert env["AGGREGAT_LAKE_URL"] == "gs://aggregat-test-lake"
    assert env["AGGREGAT_GCP_CREDENTIALS_BLOCK"] == "aggregat-dev-gcp"
    assert env["AGGREGAT_ENV"] == "dev" and env["AGGREGAT_PROFILE"] == "gcp"
    assert "AGGREGAT_ODRE_API_KEY" not in env
    assert "AGGREGAT_GCP_CREDENTIALS_FILE" not in env  # the key travels in the block


def test_dry_run_prints_the_plan_and_needs_no_server(gcp_env, capsys):
    assert setup_prefect.main(["dev", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "block aggregat-dev-gcp (GcpCredentials, key file)" in out
    assert "work pool aggregat-dev (process)" in out
    assert (
        "deployment train-weekly-dev: flows/forecast/flow.py:train {} [0 3 * * 1 Europe/Paris]"
        in out
    )
    assert (
        "deployment transform-dev: flows/transform.py:transform {} [on aggregat.staging.loaded]"
        in out
    )
    assert "PREFECT_FLOWS_HEARTBEAT_FREQUENCY=30" in out
    assert "AGGREGAT_FAILURE_WEBHOOK_URL not set, skipped" in out


def test_cloud_run_pool_needs_an_image_and_runs_code_from_it(settings, monkeypatch):
    monkeypatch.setenv("AGGREGAT_WORK_POOL_TYPE", "cloud-run-v2")
    with pytest.raises(SetupError, match="AGGREGAT_FLOW_IMAGE"):
        setup_prefect.make_plan("prod", check_code=False)
    image = "europe-west1-docker.pkg.dev/p/aggregat/flows:1"
    monkeypatch.setenv("AGGREGAT_FLOW_IMAGE", image)
    plan = setup_prefect.make_plan("prod", check_code=False)
    assert plan.code_dir == setup_prefect.IMAGE_CODE_DIR
    variables = setup_prefect.base_job_template(plan)["variables"]["properties"]
    assert variables["image"]["default"] == image
    assert variables["region"]["default"] == "europe-west1"
    assert variables["env"]["default"]["AGGREGAT_ENV"] == "prod"
    assert "AGGREGAT_FLOW_IMAGE" not in variables["env"]["default"]


def test_refuses_prefects_temporary_server():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings(restore_defaults={PREFECT_API_URL}),
        pytest.raises(SetupError, match="PREFECT_API_URL is not set"),
    ):
        setup_prefect.check_prefect_api()


# --- applying, twice ------------------------------------------------------------------------


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Webhook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook() -> Any:
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Webhook.received = []
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def registered(env: str) -> dict[str, Any]:
    """What the Prefect API holds for an environment: deployments, schedules, pool, runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags, WorkPoolFilter
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(f"aggregat-{env}")
        except ObjectNotFound:
            pool = None
        deployments = client.read_deployments(
            work_pool_filter=WorkPoolFilter(name={"any_": [f"aggregat-{env}"]})
        )
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[setup_prefect.SETUP_TAG]))
        )
        automations = [
            a for a in client.read_automations() if a.name.startswith(f"aggregat-{env}-")
        ]
    return {
        "pool": pool,
        "deployments": sorted(
            (d.name, d.entrypoint, json.dumps(d.parameters, sort_keys=True)) for d in deployments
        ),
        "schedules": sorted(
            (d.name, s.schedule.cron, s.schedule.timezone, s.active)
            for d in deployments
            for s in d.schedules
        ),
        "training_runs": [r for r in runs if r.deployment_id in {d.id for d in deployments}],
        "automations": automations,
    }


@pytest.mark.slow
def test_setup_twice_gives_the_same_deployments(prefect_server, gcp_env, monkeypatch, webhook):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect_gcp import GcpCredentials

    monkeypatch.setenv("AGGREGAT_FAILURE_WEBHOOK_URL", webhook)
    assert setup_prefect.main(["dev"]) == 0
    first = registered("dev")
    assert setup_prefect.main(["dev"]) == 0
    second = registered("dev")

    expected = specs("dev")
    assert first["deployments"] == second["deployments"]
    assert [name for name, *_ in second["deployments"]] == sorted(s["name"] for s in expected)
    assert first["schedules"] == second["schedules"]
    assert len(second["schedules"]) == sum(len(s["schedules"]) for s in expected)
    assert ("daily-pipeline-dev", "30 7 * * *", "Europe/Paris", False) in second["schedules"]
    assert len(second["training_runs"]) == 1, "a re-run must not queue a second training"
    names = sorted(a.name for a in second["automations"])
    assert names == [
        "aggregat-dev-flow-run-failed",
        "aggregat-dev-flow-run-late",
        "aggregat-dev-flow-run-silent",
        "aggregat-dev-work-pool-not-ready",
    ]
    silent = next(a for a in second["automations"] if a.name.endswith("silent"))
    assert silent.trigger.within.total_seconds() == 3 * 30
    assert silent.actions[0].state.value == "CRASHED"

    pool = second["pool"]
    assert pool.type == "process"
    env = pool.base_job_template["variables"]["properties"]["env"]["default"]
    assert env["AGGREGAT_LAKE_URL"] == "gs://aggregat-test-lake"
    assert "AGGREGAT_FAILURE_WEBHOOK_URL" not in env

    credentials = GcpCredentials.load("aggregat-dev-gcp")
    assert credentials.project == PROJECT
    assert credentials.service_account_info.get_secret_value()["project_id"] == PROJECT

    # The saved notification block really reaches the webhook.
    CustomWebhookNotificationBlock.load("aggregat-dev-failures").notify("flow failed", "aggregat")
    assert _Webhook.received == [{"text": "aggregat\nflow failed"}]


@pytest.mark.slow
def test_missing_credentials_leave_the_server_untouched(prefect_server, gcp_env, monkeypatch):
    monkeypatch.setenv("AGGREGAT_GCP_CREDENTIALS_FILE", "/nowhere/key.json")
    assert setup_prefect.main(["prod"]) == 2
    state = registered("prod")
    assert state["pool"] is None and state["deployments"] == []


# --- --check-access, against fake-gcs-server ------------------------------------------------


def test_check_access_names_the_missing_bucket_then_the_dead_bigquery_endpoint(
    gcp_env,
    monkeypatch,
    fake_gcs,  # noqa: F811 (the imported fixture)
):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from tests.gcp.emulators import closed_endpoint

    bigquery = closed_endpoint()
    monkeypatch.setenv("AGGREGAT_GCS_API_ENDPOINT", fake_gcs)
    monkeypatch.setenv("AGGREGAT_BIGQUERY_API_ENDPOINT", bigquery)
    monkeypatch.setenv("AGGREGAT_GCP_TIMEOUT_SECONDS", "2")
    plan = setup_prefect.make_plan("dev", check_code=False)
    with pytest.raises(SetupError, match="aggregat-test-lake.*does not exist"):
        setup_prefect.check_access(plan)
    client = storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake_gcs},
    )
    client.create_bucket("aggregat-test-lake")
    with pytest.raises(SetupError, match=f"BigQuery endpoint {bigquery} is not reachable"):
        setup_prefect.check_access(plan)
