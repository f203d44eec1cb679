"""Register aggregat on Prefect for one environment: blocks, work pool, deployments, alerts.

    python setup_prefect.py dev|prod [--dry-run] [--check-access] [--no-train]

Reads the environment's settings from `.env` then `.env.<env>` (and AGGREGAT_* variables),
checks the credentials and the project before touching anything, then creates or updates:
the GcpCredentials and GcsBucket blocks and a settings variable, the work pool `aggregat-<env>` (its job
environment carries the AGGREGAT_* settings, so no deployment names a bucket or a dataset),
every deployment of prefect.yaml, the failure notification, and finally starts one training
run so a redeploy never leaves the forecast without a current model. Running it again updates
the same objects: no duplicates.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args
from uuid import UUID

import yaml
from pydantic import SecretStr

from flows.settings import PROJECT_ROOT, Settings

log = logging.getLogger("setup_prefect")

ENVIRONMENTS = ("dev", "prod")
PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"
# Where a cloud-run-v2 pool's image holds this repository (the image's working directory).
IMAGE_CODE_DIR = "/opt/aggregat"
# Tag of the training run started by this script (to find one still waiting on a re-run).
SETUP_TAG = "aggregat-setup"
TRAIN_ENTRYPOINT = "flows/forecast/flow.py:train"
# Settings that configure this script only and never reach the flows.
SETUP_ONLY_FIELDS = {
    "failure_webhook_url",
    "work_pool_type",
    "flow_image",
    "cloud_run_region",
    "cloud_run_service_account",
}
PLACEHOLDER = re.compile(r"\{\{\s*\$(\w+)\s*\}\}")
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class SetupError(RuntimeError):
    """A problem found before any work: the message names the setting or file to fix."""


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of prefect.yaml with the environment's placeholders filled in."""

    name: str
    entrypoint: str
    work_pool: str
    work_queue: str | None
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """Everything the run will create or update, computed before any call to Prefect."""

    env: str
    settings: Settings
    key_info: dict[str, Any] | None
    code_dir: str
    deployments: list[DeploymentSpec]

    @property
    def work_pool(self) -> str:
        return f"aggregat-{self.env}"

    @property
    def settings_variable(self) -> str:
        """Prefect variable holding the environment's AGGREGAT_* settings as JSON."""
        return f"aggregat_{self.env}_settings"

    def block_name(self, what: str) -> str:
        return f"aggregat-{self.env}-{what}"

    @property
    def uses_gcp(self) -> bool:
        return self.settings.profile == "gcp"


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


def load_deployments(env: str, code_dir: str, path: Path | None = None) -> list[DeploymentSpec]:
    """The deployments of prefect.yaml for one environment (placeholders rendered)."""
    path = path or PREFECT_YAML
    if not path.is_file():
        raise SetupError(f"deployment file {path} not found")
    document = yaml.safe_load(path.read_text())
    values = {"AGGREGAT_ENV": env, "AGGREGAT_CODE_DIR": code_dir}
    rendered = render(document.get("deployments") or [], values, path)
    specs = [_spec(entry, path) for entry in rendered]
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SetupError(f"{path.name} declares deployments more than once: {duplicates}")
    return specs


def render(template: Any, values: dict[str, str], path: Path) -> Any:
    """Fill `{{ $NAME }}` placeholders (Prefect's env-var syntax, so `prefect deploy` agrees)."""
    if isinstance(template, dict):
        return {key: render(value, values, path) for key, value in template.items()}
    if isinstance(template, list):
        return [render(value, values, path) for value in template]
    if not isinstance(template, str):
        return template

    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise SetupError(f"{path.name}: unknown placeholder {match.group(0)}")
        return values[match.group(1)]

    return PLACEHOLDER.sub(value, template)


def _spec(entry: dict[str, Any], path: Path) -> DeploymentSpec:
    name = entry.get("name")
    for key in ("name", "entrypoint", "work_pool"):
        if not entry.get(key):
            raise SetupError(f"{path.name}: deployment {name or '?'} has no {key}")
    return DeploymentSpec(
        name=name,
        entrypoint=entry["entrypoint"],
        work_pool=entry["work_pool"]["name"],
        work_queue=entry["work_pool"].get("work_queue_name"),
        description=entry.get("description") or "",
        parameters=entry.get("parameters") or {},
        schedules=list(entry.get("schedules") or []),
        tags=list(entry.get("tags") or []),
    )


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

    from flows.gcp import GcpConfigError, bigquery_client, gcs_lake

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


def lake_bucket(settings: Settings) -> tuple[str, str]:
    """(bucket, folder) of a gs:// lake URL."""
    bucket, _, folder = settings.lake_url.removeprefix("gs://").partition("/")
    return bucket, folder.strip("/")


def dataset_names(settings: Settings) -> list[str]:
    return [settings.staging_dataset, settings.development_dataset, settings.production_dataset]


def make_plan(env: str, yaml_path: Path | None = None) -> Plan:
    """Read and check everything; raises SetupError before any call to Prefect."""
    settings = load_settings(env)
    key_info = check_gcp_settings(settings) if settings.profile == "gcp" else None
    if settings.work_pool_type == "cloud-run-v2" and not settings.flow_image:
        raise SetupError("AGGREGAT_FLOW_IMAGE must name the flow image for a cloud-run-v2 pool")
    code_dir = IMAGE_CODE_DIR if settings.work_pool_type == "cloud-run-v2" else str(PROJECT_ROOT)
    deployments = load_deployments(env, code_dir, yaml_path)
    for spec in deployments:
        check_entrypoint_file(spec)
    return Plan(env, settings, key_info, code_dir, deployments)


def check_entrypoint_file(spec: DeploymentSpec) -> None:
    path = PROJECT_ROOT / spec.entrypoint.rsplit(":", 1)[0]
    if not path.is_file():
        raise SetupError(f"deployment {spec.name}: entrypoint file {path} does not exist")


# --- what the flows see ----------------------------------------------------------------------


def worker_env(plan: Plan) -> dict[str, str]:
    """AGGREGAT_* variables of the environment, set on the work pool's job template."""
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
    return dict(sorted(env.items()))


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --- applying --------------------------------------------------------------------------------


def apply_blocks(plan: Plan) -> None:
    """GcpCredentials + GcsBucket (gcp profile); the environment's settings as a JSON variable."""
    from prefect.variables import Variable

    Variable.set(plan.settings_variable, worker_env(plan), tags=[plan.work_pool], overwrite=True)
    log.info("variable %s (JSON): saved", plan.settings_variable)
    if not plan.uses_gcp:
        log.info("profile %s: no GCP blocks", plan.settings.profile)
        return
    from prefect_gcp import GcpCredentials
    from prefect_gcp.cloud_storage import GcsBucket

    credentials = GcpCredentials(
        project=plan.settings.gcp_project, service_account_info=plan.key_info
    )
    credentials.save(plan.block_name("gcp"), overwrite=True)
    source = "key file" if plan.key_info else "Application Default Credentials"
    log.info("block %s (GcpCredentials, %s): saved", plan.block_name("gcp"), source)
    bucket, folder = lake_bucket(plan.settings)
    GcsBucket(bucket=bucket, bucket_folder=folder, gcp_credentials=credentials).save(
        plan.block_name("lake"), overwrite=True
    )
    log.info("block %s (GcsBucket gs://%s): saved", plan.block_name("lake"), bucket)


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


def runner_deployment(plan: Plan, spec: DeploymentSpec):
    """The RunnerDeployment of one spec; importing its flow checks the code loads."""
    from prefect.deployments.runner import RunnerDeployment
    from prefect.runner.storage import LocalStorage
    from prefect.schedules import Cron

    schedules = [
        Cron(
            s["cron"],
            timezone=s.get("timezone", "UTC"),
            active=s.get("active", True),
            slug=f"{spec.name}-{index}",
        )
        for index, s in enumerate(spec.schedules)
    ]
    # Entrypoints are relative to the project: load them from there, whatever the cwd.
    with contextlib.chdir(PROJECT_ROOT):
        deployment = RunnerDeployment.from_entrypoint(
            spec.entrypoint,
            name=spec.name,
            schedules=schedules,
            parameters=spec.parameters,
            description=spec.description or None,
            tags=spec.tags,
            work_pool_name=spec.work_pool,
            work_queue_name=spec.work_queue,
        )
    # The worker runs the flow from the code directory (no copy of the project per run).
    deployment.storage = LocalStorage(plan.code_dir)
    return deployment


def apply_deployments(plan: Plan) -> dict[str, UUID]:
    """Create or update every deployment (Prefect keys them by flow and name: no duplicates)."""
    ids = {}
    for spec in plan.deployments:
        deployment = runner_deployment(plan, spec)
        ids[spec.name] = deployment.apply()
        crons = ", ".join(_describe_schedule(s) for s in spec.schedules) or "no schedule"
        log.info("deployment %s/%s: %s", deployment.flow_name, spec.name, crons)
    return ids


def _describe_schedule(schedule: dict[str, Any]) -> str:
    text = f"{schedule['cron']} {schedule.get('timezone', 'UTC')}"
    return text if schedule.get("active", True) else f"{text} (inactive)"


def apply_failure_notification(plan: Plan) -> UUID | None:
    """A webhook block and an automation telling it about failed or crashed flow runs."""
    url = plan.settings.failure_webhook_url
    if url is None:
        log.info("failure notification: AGGREGAT_FAILURE_WEBHOOK_URL not set, skipped")
        return None
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
    automation_id = _upsert_automation(plan, block_id)
    log.info("failure notification: automation %s", failure_automation_name(plan.env))
    return automation_id


def failure_automation_name(env: str) -> str:
    return f"aggregat-{env}-flow-run-failed"


def _upsert_automation(plan: Plan, block_id: UUID) -> UUID:
    from prefect.automations import Automation, EventTrigger, Posture, SendNotification
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.events import ResourceSpecification

    name = failure_automation_name(plan.env)
    automation = Automation(
        name=name,
        description=f"Post failed and crashed aggregat {plan.env} flow runs to the webhook.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match_related=ResourceSpecification(
                {"prefect.resource.id": f"prefect.tag.aggregat-{plan.env}"}
            ),
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            SendNotification(
                block_document_id=block_id,
                subject=f"aggregat {plan.env}: {{{{ flow.name }}}} {{{{ flow_run.state.name }}}}",
                body="Flow run {{ flow_run.name }} of {{ flow.name }} ended "
                "{{ flow_run.state.name }}: {{ flow_run.state.message }}",
            )
        ],
    )
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(name)
    for extra in existing[1:]:
        extra.delete()
    if existing:
        automation.id = existing[0].id
        automation.update()
        return automation.id
    return automation.create().id


def trigger_training(plan: Plan, deployment_ids: dict[str, UUID]) -> UUID | None:
    """One training run right after the deployments (unless one is still waiting to start)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    spec = next((s for s in plan.deployments if s.entrypoint == TRAIN_ENTRYPOINT), None)
    if spec is None:
        log.warning("no deployment of %s in prefect.yaml: no training run", TRAIN_ENTRYPOINT)
        return None
    deployment_id = deployment_ids[spec.name]
    with get_client(sync_client=True) as client:
        waiting = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
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
        run = client.create_flow_run_from_deployment(deployment_id, tags=[SETUP_TAG])
    log.info("training run %s started for %s", run.name, spec.name)
    return run.id


# --- the command -----------------------------------------------------------------------------


def describe(plan: Plan) -> list[str]:
    """What a run would do, one line per object (the --dry-run output)."""
    settings = plan.settings
    lines = [f"environment {plan.env} (profile {settings.profile})"]
    lines.append(f"variable {plan.settings_variable} (JSON): {len(worker_env(plan))} settings")
    if plan.uses_gcp:
        source = "key file" if plan.key_info else "Application Default Credentials"
        lines.append(f"block {plan.block_name('gcp')} (GcpCredentials, {source})")
        lines.append(f"block {plan.block_name('lake')} (GcsBucket {settings.lake_url})")
    lines.append(f"work pool {plan.work_pool} ({settings.work_pool_type}), code in {plan.code_dir}")
    lines += [f"  env {k}={v}" for k, v in worker_env(plan).items()]
    for spec in plan.deployments:
        crons = ", ".join(_describe_schedule(s) for s in spec.schedules) or "no schedule"
        params = json.dumps(spec.parameters) if spec.parameters else "{}"
        lines.append(f"deployment {spec.name}: {spec.entrypoint} {params} [{crons}]")
    if settings.failure_webhook_url is None:
        lines.append("failure notification: AGGREGAT_FAILURE_WEBHOOK_URL not set, skipped")
    else:
        lines.append(f"failure notification: automation {failure_automation_name(plan.env)}")
    lines.append(f"then one run of {TRAIN_ENTRYPOINT}")
    return lines


def setup(plan: Plan, train: bool = True) -> dict[str, UUID]:
    """Apply the plan to the Prefect API; returns the deployment ids by name."""
    apply_blocks(plan)
    apply_work_pool(plan)
    ids = apply_deployments(plan)
    apply_failure_notification(plan)
    if train:
        trigger_training(plan, ids)
    return ids


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
