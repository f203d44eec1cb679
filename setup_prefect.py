"""Register aggregat on Prefect for one environment: blocks, work pool, deployments, automations.

    python setup_prefect.py dev|prod [--dry-run] [--check-access] [--no-train] [--file PATH]

Reads the environment's settings from `.env` then `.env.<env>` (and AGGREGAT_* variables) and
checks the credentials, the project and that every entrypoint of prefect.yaml imports in a
fresh interpreter (as a worker loads it) before touching anything. Then it does what
`prefect deploy` does not: the GcpCredentials block, the work pool `aggregat-<env>` whose job
environment carries the AGGREGAT_* settings (so no deployment names a bucket or a dataset);
then it applies prefect.yaml with `prefect deploy --all`, adds the automations (crashed runs
after a silent heartbeat; failed, crashed and late runs and a pool that is not ready to the
webhook), and starts one training run so a redeploy never leaves the forecast without a
current model. Running it again, or `prefect deploy` in between, updates the same objects.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from uuid import UUID

import yaml
from pydantic import SecretStr

from flows.settings import PROJECT_ROOT, Settings, environ_set

log = logging.getLogger("setup_prefect")

ENVIRONMENTS = ("dev", "prod")
PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
# Where a cloud-run-v2 pool's image holds this repository (the image's working directory).
IMAGE_CODE_DIR = "/opt/aggregat"
# Tag of the training run started by this script (to find one still waiting on a re-run).
SETUP_TAG = "aggregat-setup"
TRAIN_FLOW = "forecast-train"
# The work queue of prefect.yaml's deployments that write the warehouse.
WAREHOUSE_QUEUE = "warehouse"
# Settings that configure this script only and never reach the flows as AGGREGAT_*.
SETUP_ONLY_FIELDS = {
    "failure_webhook_url",
    "work_pool_type",
    "flow_image",
    "cloud_run_region",
    "cloud_run_service_account",
    "flow_heartbeat_seconds",
    "late_alert_minutes",
}
# A run that misses this many heartbeats in a row is taken for dead.
MISSED_HEARTBEATS = 3
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class SetupError(RuntimeError):
    """A problem found before any work: the message names the setting or file to fix."""


@dataclass(frozen=True)
class Plan:
    """Everything the run will create or update, computed before any call to Prefect."""

    env: str
    settings: Settings
    key_info: dict[str, Any] | None
    code_dir: str
    prefect_file: Path
    deployments: list[dict[str, Any]]

    @property
    def work_pool(self) -> str:
        return f"aggregat-{self.env}"

    def block_name(self, what: str) -> str:
        return f"aggregat-{self.env}-{what}"

    @property
    def uses_gcp(self) -> bool:
        return self.settings.profile == "gcp"

    @property
    def deploy_env(self) -> dict[str, str]:
        """The variables prefect.yaml's `{{ $NAME }}` placeholders read."""
        return {"AGGREGAT_ENV": self.env, "AGGREGAT_CODE_DIR": self.code_dir}


# --- reading the configuration ---------------------------------------------------------------


def load_settings(env: str) -> Settings:
    """The environment's settings: `.env`, then `.env.<env>`, then AGGREGAT_* variables."""
    if env not in ENVIRONMENTS:
        raise SetupError(f"unknown environment {env!r}; choose one of {', '.join(ENVIRONMENTS)}")
    settings = Settings(_env_file=(".env", f".env.{env}"))
    if "env" in settings.model_fields_set and settings.env != env:
        raise SetupError(
            f"AGGREGAT_ENV is {settings.env!r} in the configuration but setup was asked for "
            f"{env!r}: check .env, .env.{env} and the environment variables"
        )
    return settings.model_copy(update={"env": env})


def read_deployments(path: Path, deploy_env: dict[str, str]) -> list[dict[str, Any]]:
    """prefect.yaml's deployments as `prefect deploy` renders them for this environment."""
    from prefect.utilities.templating import apply_values

    if not path.is_file():
        raise SetupError(f"deployment file {path} not found")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SetupError(f"{path.name} is not valid YAML: {exc}") from exc
    with environ_set(deploy_env):
        entries = apply_values(document.get("deployments") or [], {}, remove_notset=False)
    for entry in entries:
        for key in ("name", "entrypoint"):
            if not entry.get(key):
                raise SetupError(f"{path.name}: deployment {entry.get('name', '?')} has no {key}")
        if "{{" in json.dumps(entry):
            raise SetupError(f"{path.name}: deployment {entry['name']} has an unknown placeholder")
    names = [entry["name"] for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SetupError(f"{path.name} declares deployments more than once: {duplicates}")
    return entries


def check_entrypoints(entrypoints: Sequence[str]) -> None:
    """Each entrypoint loads in a fresh interpreter, from the project folder, as a worker does."""
    code = (
        "import sys\n"
        "from prefect.flows import load_flow_from_entrypoint\n"
        "load_flow_from_entrypoint(sys.argv[1], use_placeholder_flow=False)\n"
    )

    def load(entrypoint: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        path = PROJECT_ROOT / entrypoint.rsplit(":", 1)[0]
        if not path.is_file():
            raise SetupError(f"entrypoint {entrypoint}: file {path} does not exist")
        done = subprocess.run(
            [sys.executable, "-c", code, entrypoint],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return entrypoint, done

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(load, sorted(set(entrypoints))))
    broken = [(ep, done) for ep, done in results if done.returncode != 0]
    if broken:
        lines = [
            f"{ep}: {(done.stderr.strip().splitlines() or ['exit ' + str(done.returncode)])[-1]}"
            for ep, done in broken
        ]
        raise SetupError("entrypoints that a worker could not load:\n  " + "\n  ".join(lines))


# --- checks before any work ------------------------------------------------------------------


def check_prefect_api() -> None:
    """A worker must see what setup registers: refuse Prefect's throw-away temporary server."""
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        raise SetupError(
            "PREFECT_API_URL is not set: deployments would go to a temporary server that no "
            "worker sees. Start one (`prefect server start`) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api, or log in to Prefect Cloud"
        )


def read_key_file(path: Path, project: str) -> dict[str, Any]:
    """A service-account key file, checked to belong to `project` and to hold a usable key."""
    from google.oauth2 import service_account

    where = f"credentials file {path} (AGGREGAT_GCP_CREDENTIALS_FILE)"
    if not path.is_file():
        raise SetupError(f"{where} does not exist")
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SetupError(f"{where} is not a JSON key file: {exc}") from exc
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SetupError(f"{where} is not a service-account key (type must be service_account)")
    missing = [k for k in ("project_id", "client_email", "private_key") if not info.get(k)]
    if missing:
        raise SetupError(f"{where} lacks {', '.join(missing)}")
    if info["project_id"] != project:
        raise SetupError(
            f"{where} belongs to project {info['project_id']!r} but AGGREGAT_GCP_PROJECT is "
            f"{project!r}: wrong project or wrong key"
        )
    try:
        service_account.Credentials.from_service_account_info(info)
    except ValueError as exc:
        raise SetupError(f"{where} holds an unusable private key: {exc}") from exc
    return info


def check_application_default_credentials(project: str) -> None:
    """Application Default Credentials must exist on this host (the worker uses them too)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        _, adc_project = google.auth.default()
    except DefaultCredentialsError as exc:
        raise SetupError(
            "no Google credentials: set AGGREGAT_GCP_CREDENTIALS_FILE to a service-account key "
            "or run `gcloud auth application-default login` on this host"
        ) from exc
    if adc_project and adc_project != project:
        log.warning(
            "Application Default Credentials default to project %s; aggregat uses %s",
            adc_project,
            project,
        )


def check_gcp_settings(settings: Settings) -> dict[str, Any] | None:
    """Project, lake URL and credentials of the gcp profile; returns the key file's content."""
    project = settings.gcp_project
    if not project:
        raise SetupError("AGGREGAT_GCP_PROJECT is not set (the gcp profile needs a project)")
    if not PROJECT_ID.match(project):
        raise SetupError(f"AGGREGAT_GCP_PROJECT {project!r} is not a valid GCP project id")
    if not settings.lake_url.startswith("gs://") or len(settings.lake_url) <= len("gs://"):
        raise SetupError(
            f"AGGREGAT_LAKE_URL {settings.lake_url!r} must be gs://<bucket>[/prefix] with the "
            "gcp profile (terraform output lake_url)"
        )
    if settings.gcp_credentials_file:
        return read_key_file(Path(settings.gcp_credentials_file), project)
    check_application_default_credentials(project)
    return None


def check_access(plan: Plan) -> None:
    """Ask GCS and BigQuery for the lake bucket and the three datasets terraform created."""
    from google.api_core.exceptions import GoogleAPIError

    from flows.errors import GcpConfigError
    from flows.gcp import bigquery_client, gcs_lake

    # The blocks do not exist yet: check with the key file or ADC the blocks will carry.
    settings = plan.settings.model_copy(update={"gcp_credentials_block": None})
    try:
        gcs_lake(settings)
        client = bigquery_client(settings)
        for dataset in dataset_names(settings):
            try:
                client.get_dataset(
                    f"{client.project}.{dataset}", timeout=settings.gcp_timeout_seconds
                )
            except GoogleAPIError as exc:
                raise SetupError(
                    f"dataset {client.project}.{dataset} (terraform apply creates it): {exc}"
                ) from exc
    except GcpConfigError as exc:
        raise SetupError(str(exc)) from exc


def dataset_names(settings: Settings) -> list[str]:
    return [settings.staging_dataset, settings.development_dataset, settings.production_dataset]


def make_plan(env: str, prefect_file: Path | None = None, check_code: bool = True) -> Plan:
    """Read and check everything; raises SetupError before any call to Prefect."""
    settings = load_settings(env)
    key_info = check_gcp_settings(settings) if settings.profile == "gcp" else None
    if settings.work_pool_type == "cloud-run-v2" and not settings.flow_image:
        raise SetupError("AGGREGAT_FLOW_IMAGE must name the flow image for a cloud-run-v2 pool")
    code_dir = IMAGE_CODE_DIR if settings.work_pool_type == "cloud-run-v2" else str(PROJECT_ROOT)
    path = (prefect_file or PREFECT_YAML).resolve()
    plan = Plan(env, settings, key_info, code_dir, path, [])
    deployments = read_deployments(path, plan.deploy_env)
    if check_code:
        check_entrypoints([d["entrypoint"] for d in deployments])
    return Plan(env, settings, key_info, code_dir, path, deployments)


# --- what the flows see ----------------------------------------------------------------------


def worker_env(plan: Plan) -> dict[str, str]:
    """Variables of every flow run on the pool: the AGGREGAT_* settings and the heartbeat."""
    settings = plan.settings
    secret = {n for n, f in Settings.model_fields.items() if _is_secret(f.annotation)}
    fields = settings.model_fields_set - SETUP_ONLY_FIELDS - secret
    if plan.uses_gcp:
        fields.discard("gcp_credentials_file")  # the key travels in the GcpCredentials block
    values = settings.model_dump(mode="json", include=fields)
    env = {f"AGGREGAT_{k.upper()}": _env_value(v) for k, v in values.items() if v is not None}
    env["AGGREGAT_ENV"] = plan.env
    env["AGGREGAT_PROFILE"] = settings.profile
    if plan.uses_gcp:
        env["AGGREGAT_GCP_CREDENTIALS_BLOCK"] = plan.block_name("gcp")
    # A run that stops beating is a dead worker or container: see the crash automation.
    env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = str(settings.flow_heartbeat_seconds)
    return dict(sorted(env.items()))


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --- applying --------------------------------------------------------------------------------


def apply_blocks(plan: Plan) -> None:
    """The GcpCredentials block the flows and a cloud-run-v2 pool authenticate with."""
    if not plan.uses_gcp:
        log.info("profile %s: no GCP blocks", plan.settings.profile)
        return
    from prefect_gcp import GcpCredentials

    credentials = GcpCredentials(
        project=plan.settings.gcp_project, service_account_info=plan.key_info
    )
    credentials.save(plan.block_name("gcp"), overwrite=True)
    source = "key file" if plan.key_info else "Application Default Credentials"
    log.info("block %s (GcpCredentials, %s): saved", plan.block_name("gcp"), source)


def base_job_template(plan: Plan) -> dict[str, Any]:
    """The pool's default job template with the environment's variables as defaults."""
    if plan.settings.work_pool_type == "cloud-run-v2":
        from prefect_gcp.workers.cloud_run_v2 import CloudRunWorkerV2

        template = CloudRunWorkerV2.get_default_base_job_template()
    else:
        from prefect.workers.process import ProcessWorker

        template = ProcessWorker.get_default_base_job_template()
    properties = template["variables"]["properties"]
    properties["env"]["default"] = worker_env(plan)
    if plan.settings.work_pool_type == "cloud-run-v2":
        properties["image"]["default"] = plan.settings.flow_image
        properties["region"]["default"] = plan.settings.cloud_run_region
        if plan.settings.cloud_run_service_account:
            properties["service_account_name"]["default"] = plan.settings.cloud_run_service_account
        if plan.uses_gcp:
            properties["credentials"]["default"] = {
                "$ref": {"block_document_id": str(_block_id(plan.block_name("gcp")))}
            }
    return template


def _block_id(name: str) -> UUID:
    from prefect_gcp import GcpCredentials

    return GcpCredentials.load(name)._block_document_id


def apply_work_pool(plan: Plan) -> None:
    """Create the pool, or bring an existing one's type and job template up to date."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound

    template = base_job_template(plan)
    pool_type = plan.settings.work_pool_type
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_work_pool(plan.work_pool)
        except ObjectNotFound:
            existing = None
        if existing is not None and existing.type != pool_type:
            raise SetupError(
                f"work pool {plan.work_pool} exists with type {existing.type}, not {pool_type}: "
                "delete it (`prefect work-pool delete`) to change its type"
            )
        if existing is None:
            pool = WorkPoolCreate(name=plan.work_pool, type=pool_type, base_job_template=template)
            client.create_work_pool(pool)
            log.info("work pool %s (%s): created", plan.work_pool, pool_type)
        else:
            client.update_work_pool(plan.work_pool, WorkPoolUpdate(base_job_template=template))
            log.info("work pool %s (%s): updated", plan.work_pool, pool_type)
        apply_warehouse_queue(client, plan)


def apply_warehouse_queue(client: Any, plan: Plan) -> None:
    """The queue of the flows that write the warehouse: one at a time on DuckDB."""
    from prefect.exceptions import ObjectNotFound

    # DuckDB takes one writing process (or many readers); BigQuery takes concurrent jobs,
    # and each deployment's own concurrency limit keeps two runs of one flow apart.
    limit = 1 if plan.settings.profile == "local" else None
    try:
        queue = client.read_work_queue_by_name(WAREHOUSE_QUEUE, work_pool_name=plan.work_pool)
    except ObjectNotFound:
        client.create_work_queue(
            WAREHOUSE_QUEUE, work_pool_name=plan.work_pool, concurrency_limit=limit
        )
    else:
        client.update_work_queue(queue.id, concurrency_limit=limit)
    log.info("work queue %s/%s: concurrency %s", plan.work_pool, WAREHOUSE_QUEUE, limit or "free")


def prefect_command() -> list[str]:
    """The Prefect CLI of this interpreter's environment."""
    return [sys.executable, "-m", "prefect"]


def apply_deployments(plan: Plan) -> None:
    """`prefect deploy --all` on the deployment file, with its placeholders' variables set."""
    command = [*prefect_command(), "--no-prompt", "deploy", "--all"]
    command += ["--prefect-file", str(plan.prefect_file)]
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL

    # The API this process talks to, whether it came from a profile or the environment.
    api = {"PREFECT_API_URL": PREFECT_API_URL.value() or ""}
    if PREFECT_API_KEY.value():
        api["PREFECT_API_KEY"] = PREFECT_API_KEY.value().get_secret_value()
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env={**os.environ, **api, **plan.deploy_env, "PREFECT_CLI_COLORS": "false"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise SetupError(f"prefect deploy --all failed (exit {done.returncode}):\n{tail}")
    for entry in plan.deployments:
        crons = ", ".join(_describe_schedule(s) for s in entry.get("schedules") or [])
        triggers = [t.get("expect") for t in entry.get("triggers") or []]
        when = crons or (f"on {', '.join(e for t in triggers for e in t)}" if triggers else "")
        log.info("deployment %s: %s", entry["name"], when or "on demand")


def _describe_schedule(schedule: dict[str, Any]) -> str:
    text = f"{schedule['cron']} {schedule.get('timezone', 'UTC')}"
    return text if schedule.get("active", True) else f"{text} (inactive)"


def automation_name(env: str, what: str) -> str:
    return f"aggregat-{env}-{what}"


def _upsert_automation(automation: Any) -> UUID:
    """Create an automation or replace the one of the same name (no duplicates on re-runs)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(automation.name)
    for extra in existing[1:]:
        extra.delete()
    if existing:
        automation.id = existing[0].id
        automation.update()
        return automation.id
    return automation.create().id


def _tag_of(env: str) -> Any:
    from prefect.events.schemas.events import ResourceSpecification

    return ResourceSpecification(
        {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.aggregat-{env}"}
    )


def _per_run_absence(env: str, after: str, expect: set[str], within: Any) -> Any:
    """Fires for a flow run of `env` that, after `after`, sends none of `expect` in `within`."""
    from prefect.automations import EventTrigger, Posture

    return EventTrigger(
        after={after},
        expect={f"prefect.flow-run.{name}" for name in expect},
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related=_tag_of(env),
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=within,
    )


def apply_crash_detection(plan: Plan) -> UUID:
    """A run whose heartbeats stop (dead worker, killed container) is marked Crashed."""
    from datetime import timedelta

    from prefect.automations import Automation, ChangeFlowRunState
    from prefect.client.schemas.objects import StateType

    silence = timedelta(seconds=MISSED_HEARTBEATS * plan.settings.flow_heartbeat_seconds)
    automation = Automation(
        name=automation_name(plan.env, "flow-run-silent"),
        description=f"Mark aggregat {plan.env} flow runs Crashed after {silence} without a heartbeat.",
        trigger=_per_run_absence(
            plan.env,
            after="prefect.flow-run.heartbeat",
            # Warning: the Completed-type state of a run with partial data (flows/runlog.py).
            expect={"heartbeat", "Completed", "Warning", "Failed", "Cancelled", "Crashed"},
            within=silence,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                name="Crashed",
                message=f"no heartbeat for {silence}: the worker or its container died",
                # Not forced: Prefect's orchestration then never turns a run that has
                # already ended (a late heartbeat event) into a crash.
            )
        ],
    )
    log.info("crash detection: automation %s", automation.name)
    return _upsert_automation(automation)


def apply_notifications(plan: Plan) -> list[UUID]:
    """A webhook block told about failed, crashed and late runs and about a pool not ready."""
    url = plan.settings.failure_webhook_url
    if url is None:
        log.info("notifications: AGGREGAT_FAILURE_WEBHOOK_URL not set, skipped")
        return []
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=f"aggregat {plan.env}",
        url="{{webhook_url}}",
        secrets={"webhook_url": url.get_secret_value()},
        json_data={"text": "{{subject}}\n{{body}}"},
        # The URL comes from the operator's own configuration, often an internal chat server.
        allow_private_urls=True,
    )
    block_id = block.save(plan.block_name("failures"), overwrite=True)
    ids = [_upsert_automation(a) for a in notification_automations(plan, block_id)]
    log.info("notifications: %d automations to the webhook", len(ids))
    return ids


def notification_automations(plan: Plan, block_id: UUID) -> list[Any]:
    """Failed or crashed runs; runs Late for too long; the work pool not ready."""
    from datetime import timedelta

    from prefect.automations import Automation, EventTrigger, Posture, SendNotification

    def notify(subject: str, body: str) -> list[Any]:
        return [SendNotification(block_document_id=block_id, subject=subject, body=body)]

    run = "{{ flow.name }} {{ flow_run.name }}"
    late = timedelta(minutes=plan.settings.late_alert_minutes)
    return [
        Automation(
            name=automation_name(plan.env, "flow-run-failed"),
            description=f"Post failed and crashed aggregat {plan.env} flow runs to the webhook.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
                match_related=_tag_of(plan.env),
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=notify(
                f"aggregat {plan.env}: {{{{ flow.name }}}} {{{{ flow_run.state.name }}}}",
                f"Flow run {run} ended {{{{ flow_run.state.name }}}}: "
                "{{ flow_run.state.message }}",
            ),
        ),
        Automation(
            name=automation_name(plan.env, "flow-run-late"),
            description=f"A run of aggregat {plan.env} Late for {late}: is a worker polling?",
            trigger=_per_run_absence(
                plan.env, after="prefect.flow-run.Late", expect={"Pending", "Running"}, within=late
            ),
            actions=notify(
                f"aggregat {plan.env}: {{{{ flow.name }}}} late",
                f"Flow run {run} has been Late for {late}: no worker is taking work from "
                f"pool {plan.work_pool} (`make agent ENV={plan.env}`).",
            ),
        ),
        Automation(
            name=automation_name(plan.env, "work-pool-not-ready"),
            description=f"Work pool {plan.work_pool} has no live worker.",
            trigger=EventTrigger(
                expect={"prefect.work-pool.not-ready"},
                match={"prefect.resource.name": plan.work_pool},
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=notify(
                f"aggregat {plan.env}: work pool {plan.work_pool} not ready",
                f"No worker is polling {plan.work_pool}: scheduled runs will go Late "
                f"(`make agent ENV={plan.env}`).",
            ),
        ),
    ]


def trigger_training(plan: Plan) -> UUID | None:
    """One training run right after the deployments (unless one is still waiting to start)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[TRAIN_FLOW])),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[plan.work_pool])),
        )
        if not deployments:
            log.warning(
                "no deployment of flow %s in %s: no training run", TRAIN_FLOW, plan.work_pool
            )
            return None
        deployment = deployments[0]
        waiting = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[SETUP_TAG]),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PENDING])
                ),
            ),
        )
        if waiting:
            log.info("training run %s still waiting to start: not adding another", waiting[0].name)
            return waiting[0].id
        run = client.create_flow_run_from_deployment(deployment.id, tags=[SETUP_TAG])
    log.info("training run %s started for %s", run.name, deployment.name)
    return run.id


# --- the command -----------------------------------------------------------------------------


def describe(plan: Plan) -> list[str]:
    """What a run would do, one line per object (the --dry-run output)."""
    settings = plan.settings
    lines = [f"environment {plan.env} (profile {settings.profile})"]
    if plan.uses_gcp:
        source = "key file" if plan.key_info else "Application Default Credentials"
        lines.append(f"block {plan.block_name('gcp')} (GcpCredentials, {source})")
    lines.append(f"work pool {plan.work_pool} ({settings.work_pool_type}), code in {plan.code_dir}")
    lines += [f"  env {k}={v}" for k, v in worker_env(plan).items()]
    lines.append(f"prefect deploy --all --prefect-file {plan.prefect_file}:")
    for entry in plan.deployments:
        crons = ", ".join(_describe_schedule(s) for s in entry.get("schedules") or [])
        expects = [e for t in entry.get("triggers") or [] for e in t.get("expect", [])]
        when = crons or (f"on {', '.join(expects)}" if expects else "on demand")
        params = json.dumps(entry.get("parameters") or {})
        lines.append(f"  deployment {entry['name']}: {entry['entrypoint']} {params} [{when}]")
    lines.append(f"automation {automation_name(plan.env, 'flow-run-silent')} (crash detection)")
    if settings.failure_webhook_url is None:
        lines.append("notifications: AGGREGAT_FAILURE_WEBHOOK_URL not set, skipped")
    else:
        lines.append("notifications: failed, crashed and late runs, work pool not ready")
    lines.append(f"then one run of flow {TRAIN_FLOW}")
    return lines


def setup(plan: Plan, train: bool = True) -> None:
    """Apply the plan to the Prefect API."""
    apply_blocks(plan)
    apply_work_pool(plan)
    apply_deployments(plan)
    apply_crash_detection(plan)
    apply_notifications(plan)
    if train:
        trigger_training(plan)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="setup_prefect.py", description=__doc__.split("\n")[0])
    parser.add_argument("env", help="environment: " + " | ".join(ENVIRONMENTS))
    parser.add_argument("--dry-run", action="store_true", help="print what would be done, only")
    parser.add_argument(
        "--check-access", action="store_true", help="also ask GCP for the bucket and datasets"
    )
    parser.add_argument("--no-train", action="store_true", help="skip the training run")
    parser.add_argument("--file", type=Path, default=None, help="the deployments file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        plan = make_plan(args.env, args.file)
        if args.check_access and plan.uses_gcp:
            check_access(plan)
        if args.dry_run:
            print("\n".join(["dry run, nothing changed:", *describe(plan)]))
            return 0
        check_prefect_api()
        setup(plan, train=not args.no_train)
    except SetupError as exc:
        print(f"setup_prefect: {exc}", file=sys.stderr)
        return 2
    log.info("done: %d deployments on work pool %s", len(plan.deployments), plan.work_pool)
    log.info("start the worker with: make agent ENV=%s", plan.env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
