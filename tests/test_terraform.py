"""The Terraform configuration: checkov's static analysis and structural checks with python-hcl2.

No terraform binary or provider can be downloaded here, so `terraform validate/plan` cannot run;
these tests cover what a plan would reveal too late: undeclared variables, unpinned provider,
an unsafe bucket, a lifecycle rule that could delete the weather archive, project-wide roles.
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
ENVS = sorted((TERRAFORM / "envs").glob("*.tfvars"))

# Each skip carries its reason inline in the .tf file; a new one must be reviewed here too.
REVIEWED_SKIPS = {"CKV_GCP_62", "CKV_GCP_81", "CKV_GCP_84"}
# The only roles the configuration may grant on the whole project (nothing that reads data).
PROJECT_ROLES = {"roles/bigquery.jobUser", "roles/run.developer"}
# Every optional part switched on, so that checkov also reads what count = 0 hides by default.
ALL_FEATURES = {
    "project_id": "my-aggregat-prod",
    "environment": "prod",
    "enable_cloud_run": True,
    "enable_dashboard": True,
    "dashboard_image": "europe-west1-docker.pkg.dev/my-aggregat-prod/aggregat/aggregat:2026-12-01",
    "dashboard_invokers": ["group:energy-dashboards@example.com"],
    "deployer_principal": "group:aggregat-operators@example.com",
}
_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


@cache
def parse(name: str) -> dict[str, Any]:
    """One .tf or .tfvars file as plain data (strings unquoted, blocks as lists)."""
    return hcl2.loads((TERRAFORM / name).read_text(), serialization_options=_OPTIONS)


def variables() -> dict[str, dict[str, Any]]:
    return {
        name: body for block in parse("variables.tf")["variable"] for name, body in block.items()
    }


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type across the configuration, by name."""
    found: dict[str, dict[str, Any]] = {}
    for tf in sorted(TERRAFORM.glob("*.tf")):
        for block in parse(tf.name).get("resource", []):
            for name, body in block.get(kind, {}).items():
                found[name] = body
    return found


def all_resources() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (kind, name, body)
        for tf in sorted(TERRAFORM.glob("*.tf"))
        for block in parse(tf.name).get("resource", [])
        for kind, named in block.items()
        for name, body in named.items()
    ]


def resolve(value: Any, tfvars: dict[str, Any]) -> Any:
    """`${var.a.b}` → the tfvars value, else the variable's default; anything else unchanged."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\$\{var\.([\w.]+)\}", value)
    if not match:
        return value
    name, *path = match.group(1).split(".")
    resolved = tfvars[name] if name in tfvars else variables()[name]["default"]
    for key in path:
        resolved = resolved[key]
    return resolved


# --- checkov ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["defaults", "all-features"])
def checkov_report(request, tmp_path_factory) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.skip(f"checkov not installed at {CHECKOV}; `make test` builds .venv-checkov")
    var_file: list[str] = []
    if request.param == "all-features":
        path = tmp_path_factory.mktemp("tfvars") / "all.tfvars"
        path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in ALL_FEATURES.items()))
        var_file = ["--var-file", str(path)]
    done = subprocess.run(
        [str(CHECKOV), "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download"]
        + ["--output", "json", *var_file],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), f"checkov crashed: {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_reports_no_failed_check(checkov_report):
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']})"
        for c in checkov_report["results"]["failed_checks"]
    ]
    assert failed == [], "checkov findings to fix or skip with a reason:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0


def test_every_checkov_skip_is_reviewed_and_explained(checkov_report):
    skipped = checkov_report["results"]["skipped_checks"]
    assert {c["check_id"] for c in skipped} <= REVIEWED_SKIPS
    for check in skipped:
        reason = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']} lacks a reason"


# --- variables and provider -----------------------------------------------------------------


def test_every_variable_is_typed_and_described():
    declared = variables()
    assert declared
    for name, body in declared.items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(str(body.get("description", ""))) > 10, f"variable {name} has no description"


def test_google_provider_is_pinned_to_a_major_version():
    terraform = parse("versions.tf")["terraform"][0]
    assert re.match(r">=\s*1\.\d+", terraform["required_version"])
    google = terraform["required_providers"][0]["google"]
    assert google["source"] == "hashicorp/google"
    version = google["version"]
    # `~> X.Y` or an explicit upper bound: never an open-ended or missing constraint.
    assert re.fullmatch(r"~>\s*\d+\.\d+(\.\d+)?", version) or "<" in version, version


def test_backend_is_gcs_with_partial_configuration():
    backend = parse("versions.tf")["terraform"][0]["backend"][0]
    assert list(backend) == ["gcs"] and not backend["gcs"]
    example = (TERRAFORM / "backend.gcs.hcl.example").read_text()
    assert re.search(r"^bucket\s*=", example, re.M) and re.search(r"^prefix\s*=", example, re.M)


@pytest.mark.parametrize("tfvars", ENVS, ids=lambda p: p.stem)
def test_tfvars_set_only_declared_variables(tfvars: Path):
    values = parse(f"envs/{tfvars.name}")
    undeclared = set(values) - set(variables())
    assert not undeclared, f"{tfvars.name} sets undeclared variables {sorted(undeclared)}"
    required = {name for name, body in variables().items() if "default" not in body}
    assert required <= set(values), f"{tfvars.name} misses {sorted(required - set(values))}"
    assert values["environment"] == tfvars.stem


def test_environments_set_the_same_keys_and_distinct_resources():
    assert {p.stem for p in ENVS} == {"dev", "prod"}
    dev, prod = parse("envs/dev.tfvars"), parse("envs/prod.tfvars")
    assert set(dev) == set(prod)
    # Two environments in one project must not share a dataset.
    assert not set(dev["datasets"].values()) & set(prod["datasets"].values())


# --- the lake bucket --------------------------------------------------------------------------


def lake() -> dict[str, Any]:
    buckets = resources("google_storage_bucket")
    assert list(buckets) == ["lake"]
    return buckets["lake"]


def test_bucket_is_private_uniform_and_versioned():
    bucket = lake()
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"][0]["enabled"] is True
    assert bucket["force_destroy"] is False


def _deletes_live_objects_under(rule: dict[str, Any], prefix: str, tfvars: dict[str, Any]) -> bool:
    condition = rule["condition"][0]
    if rule["action"][0]["type"] != "Delete":
        return False
    if condition.get("with_state") == "ARCHIVED":
        return False  # non-current versions only
    prefixes = resolve(condition.get("matches_prefix"), tfvars)
    if not prefixes:
        return True  # matches every key, raw/ included
    return any(prefix.startswith(p) or p.startswith(prefix) for p in prefixes)


@pytest.mark.parametrize("tfvars", [None, *ENVS], ids=lambda p: p.stem if p else "defaults")
def test_no_lifecycle_rule_deletes_live_raw_objects(tfvars: Path | None):
    values = parse(f"envs/{tfvars.name}") if tfvars else {}
    rules = lake()["lifecycle_rule"]
    unsafe = [r for r in rules if _deletes_live_objects_under(r, "raw/", values)]
    assert unsafe == []
    # The same for the rest of what backfill and the forecast rebuild from.
    for kept in ("landing/", "curated/", "models/"):
        assert not [r for r in rules if _deletes_live_objects_under(r, kept, values)], kept


def test_lifecycle_moves_weather_archive_colder_and_cleans_up():
    rules = lake()["lifecycle_rule"]
    transitions = [
        (resolve(r["condition"][0]["age"], {}), r["action"][0]["storage_class"])
        for r in rules
        if r["action"][0]["type"] == "SetStorageClass"
        and r["condition"][0].get("matches_prefix") == ["raw/meteofrance/"]
    ]
    assert [cls for _, cls in sorted(transitions)] == ["NEARLINE", "COLDLINE", "ARCHIVE"]
    actions = [r["action"][0]["type"] for r in rules]
    assert "AbortIncompleteMultipartUpload" in actions
    noncurrent = [r for r in rules if r["condition"][0].get("with_state") == "ARCHIVED"]
    assert noncurrent and noncurrent[0]["condition"][0]["days_since_noncurrent_time"]


# --- datasets and IAM -----------------------------------------------------------------------


def test_three_datasets_named_by_variables():
    datasets = resources("google_bigquery_dataset")
    assert list(datasets) == ["aggregat"]
    body = datasets["aggregat"]
    assert body["for_each"] == "${var.datasets}"
    assert body["location"] == "${var.bigquery_location}"
    assert set(variables()["datasets"]["default"]) == {"staging", "development", "production"}


def test_iam_is_resource_scoped_and_least_privilege():
    project_bindings = []
    for kind, name, body in all_resources():
        if not kind.endswith(("_iam_member", "_iam_binding", "_iam_policy")):
            continue
        # Additive members only: authoritative bindings/policies would wipe others' grants.
        assert kind.endswith("_iam_member"), f"{kind}.{name} is authoritative"
        role = body["role"]
        assert role not in {"roles/owner", "roles/editor", "roles/viewer"}, f"{kind}.{name}"
        assert not role.endswith((".admin", ".dataOwner")), f"{kind}.{name} grants {role}"
        if kind == "google_project_iam_member":
            project_bindings.append(role)
            assert role in PROJECT_ROLES, f"{kind}.{name} grants {role} on the whole project"
        elif kind == "google_storage_bucket_iam_member":
            assert body["bucket"] == "${google_storage_bucket.lake.name}"
            assert role == "roles/storage.objectAdmin"
        elif kind == "google_bigquery_dataset_iam_member":
            assert body["dataset_id"].startswith("${google_bigquery_dataset.aggregat[")
            assert role in {"roles/bigquery.dataEditor", "roles/bigquery.dataViewer"}
        elif kind == "google_secret_manager_secret_iam_member":
            assert body["secret_id"].startswith("${google_secret_manager_secret.aggregat[")
            assert role == "roles/secretmanager.secretAccessor"
        elif kind == "google_service_account_iam_member":
            # Acting as, or minting tokens for, one of the platform's own accounts only.
            assert re.fullmatch(
                r"\$\{google_service_account\.\w+(\[0\])?\.name\}", body["service_account_id"]
            )
            assert role in {"roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"}
        elif kind == "google_cloud_run_v2_service_iam_member":
            assert role == "roles/run.invoker"
        else:
            raise AssertionError(f"{kind}.{name}: a kind of grant this test does not review")
    assert "roles/bigquery.jobUser" in project_bindings
    assert "roles/bigquery.readSessionUser" not in {
        body.get("role") for _, _, body in all_resources()
    }


def test_optional_resources_follow_their_switches():
    assert variables()["enable_cloud_run"]["default"] is False
    assert variables()["enable_dashboard"]["default"] is False
    assert variables()["deployer_principal"]["default"] is None
    switched = {
        ("google_artifact_registry_repository", "flows"): "${local.image_repository ? 1 : 0}",
        ("google_service_account", "cloud_run"): "${var.enable_cloud_run ? 1 : 0}",
        ("google_project_iam_member", "worker_run_developer"): "${var.enable_cloud_run ? 1 : 0}",
        ("google_service_account_iam_member", "worker_acts_as_cloud_run"): (
            "${var.enable_cloud_run ? 1 : 0}"
        ),
        ("google_service_account_iam_member", "deployer_impersonates_worker"): (
            "${var.deployer_principal == null ? 0 : 1}"
        ),
        ("google_service_account", "dashboard"): "${var.enable_dashboard ? 1 : 0}",
        ("google_bigquery_dataset_iam_member", "dashboard_service_reader"): (
            "${var.enable_dashboard ? 1 : 0}"
        ),
        ("google_project_iam_member", "dashboard_service_job_user"): (
            "${var.enable_dashboard ? 1 : 0}"
        ),
        ("google_cloud_run_v2_service", "dashboard"): "${local.dashboard_service ? 1 : 0}",
    }
    for (kind, name), count in switched.items():
        assert resources(kind)[name].get("count") == count, f"{kind}.{name}"
    locals_ = parse("main.tf")["locals"][0]
    assert locals_["image_repository"] == "${var.enable_cloud_run || var.enable_dashboard}"
    assert locals_["dashboard_service"] == (
        "${var.enable_dashboard && var.dashboard_image != null}"
    )
    # No grant lets the Cloud Run identity pull images: Cloud Run's service agent does that.
    assert resources("google_artifact_registry_repository_iam_member") == {}


def test_apis_are_enabled_and_never_disabled_on_destroy():
    service = resources("google_project_service")["enabled"]
    assert service["disable_on_destroy"] is False
    locals_ = parse("main.tf")["locals"][0]
    for api in ("bigquery", "storage", "iam", "run", "artifactregistry", "secretmanager"):
        assert f"{api}.googleapis.com" in locals_["services"]


# --- audit logs, impersonation, secrets ---------------------------------------------------------


def test_lake_data_access_is_audited_as_the_ckv_gcp_62_skip_says():
    audit = resources("google_project_iam_audit_config")
    assert list(audit) == ["storage_data_access"]
    config = audit["storage_data_access"]
    assert config["service"] == "storage.googleapis.com"
    assert config["project"] == "${var.project_id}"
    assert {c["log_type"] for c in config["audit_log_config"]} == {"DATA_READ", "DATA_WRITE"}
    assert not any(c.get("exempted_members") for c in config["audit_log_config"])
    skip = re.search(r"#checkov:skip=CKV_GCP_62:(.*)", (TERRAFORM / "main.tf").read_text())
    assert skip and "google_project_iam_audit_config.storage_data_access" in skip.group(1)


def test_deployer_may_impersonate_the_worker_only():
    grant = resources("google_service_account_iam_member")["deployer_impersonates_worker"]
    assert grant["service_account_id"] == "${google_service_account.worker.name}"
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert grant["member"] == "${var.deployer_principal}"
    token_creators = [
        name
        for kind, name, body in all_resources()
        if body.get("role") == "roles/iam.serviceAccountTokenCreator"
    ]
    assert token_creators == ["deployer_impersonates_worker"]


def secrets_local() -> dict[str, dict[str, Any]]:
    return parse("main.tf")["locals"][0]["secrets"]


def test_secrets_are_declared_without_values():
    declared = secrets_local()
    settings = {s["setting"] for s in declared.values()}
    assert settings == {
        "AGGREGAT_ODRE_API_KEY",
        "AGGREGAT_METEOFRANCE_API_KEY",
        "AGGREGAT_FAILURE_WEBHOOK_URL",
    }
    from flows.settings import Settings

    fields = {f"AGGREGAT_{name.upper()}" for name in Settings.model_fields}
    assert settings <= fields, "each secret is a setting the project reads"
    secret = resources("google_secret_manager_secret")["aggregat"]
    assert secret["for_each"] == "${local.secrets}"
    assert "${var.environment}" in secret["secret_id"]
    # Values never go through Terraform (they would sit in its state in clear).
    assert resources("google_secret_manager_secret_version") == {}
    tf_text = "".join(p.read_text() for p in TERRAFORM.glob("*.tf"))
    assert "secret_data" not in tf_text


def test_worker_reads_every_secret_and_cloud_run_jobs_the_flows_ones():
    accessor = resources("google_secret_manager_secret_iam_member")["accessor"]
    assert accessor["for_each"] == "${local.secret_readers}"
    readers = parse("main.tf")["locals"][0]["secret_readers"]
    assert "setproduct(keys(local.data_writers), keys(local.secrets))" in readers
    assert 'if pair[0] == "worker" || local.secrets[pair[1]].flows' in readers
    flows = {name for name, s in secrets_local().items() if s["flows"]}
    assert flows == {"odre_api_key", "meteofrance_api_key"}
    # The pool's env_from_secrets gets exactly those (the output's shape is prefect-gcp's).
    output = next(o for o in parse("outputs.tf")["output"] if "env_from_secrets" in o)
    assert "if secret.flows" in output["env_from_secrets"]["value"]
    from prefect_gcp.workers.cloud_run_v2 import CloudRunWorkerV2

    properties = CloudRunWorkerV2.get_default_base_job_template()["variables"]["properties"]
    example = properties["env_from_secrets"]["examples"][0]
    assert set(next(iter(example.values()))) == {"secret", "version"}


# --- the dashboard on Cloud Run -------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return resources("google_cloud_run_v2_service")["dashboard"]


def test_dashboard_identity_reads_the_production_dataset_only():
    reader = resources("google_bigquery_dataset_iam_member")["dashboard_service_reader"]
    assert reader["dataset_id"] == '${google_bigquery_dataset.aggregat["production"].dataset_id}'
    assert reader["role"] == "roles/bigquery.dataViewer"
    assert reader["member"] == "${google_service_account.dashboard[0].member}"
    job_user = resources("google_project_iam_member")["dashboard_service_job_user"]
    assert job_user["role"] == "roles/bigquery.jobUser"
    grants = [
        (kind, name)
        for kind, name, body in all_resources()
        if "google_service_account.dashboard[0]" in str(body.get("member", ""))
    ]
    assert sorted(grants) == [
        ("google_bigquery_dataset_iam_member", "dashboard_service_reader"),
        ("google_project_iam_member", "dashboard_service_job_user"),
    ]
    assert dashboard()["template"][0]["service_account"] == (
        "${google_service_account.dashboard[0].email}"
    )


def test_dashboard_is_never_public():
    invoker = resources("google_cloud_run_v2_service_iam_member")["dashboard_invoker"]
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["for_each"] == (
        "${local.dashboard_service ? toset(var.dashboard_invokers) : toset([])}"
    )
    condition = variables()["dashboard_invokers"]["validation"][0]["condition"]
    pattern = re.search(r'regex\("([^"]+)"', condition).group(1)
    for member in ("allUsers", "allAuthenticatedUsers"):
        assert not re.match(pattern, member), member
    assert re.match(pattern, "group:energy-dashboards@example.com")
    members = [body.get("member") for kind, _, body in all_resources() if "iam_member" in kind]
    assert not {"allUsers", "allAuthenticatedUsers"} & set(members)
    ingress = variables()["dashboard_ingress"]
    assert ingress["default"] == "INGRESS_TRAFFIC_ALL" and dashboard()["ingress"] == (
        "${var.dashboard_ingress}"
    )


def test_dashboard_runs_the_project_image_as_the_dockerfile_builds_it():
    container = dashboard()["template"][0]["containers"][0]
    assert container["image"] == "${var.dashboard_image}"
    command = variables()["dashboard_command"]["default"]
    assert command[:2] == ["streamlit", "run"]
    # The app path is relative to the image's working directory, the repository.
    assert not command[2].startswith("/") and command[2].startswith("dashboard/")
    dockerfile = (ROOT / "Dockerfile").read_text()
    exposed = re.findall(r"^EXPOSE (\d+)", dockerfile, re.M)
    port = container["ports"][0]["container_port"]
    assert exposed == [str(port)]
    env = container["dynamic"][0]["env"]["for_each"]
    for name in ("STREAMLIT_SERVER_PORT", "AGGREGAT_DASHBOARD_PORT"):
        assert re.search(rf'{name}\s*=\s*"{port}"', env), name
    assert "local.aggregat_env" in env
    # Streamlit's websocket: long requests and sticky sessions.
    template = dashboard()["template"][0]
    assert template["session_affinity"] is True
    assert int(template["timeout"].rstrip("s")) >= 3600
    assert template["scaling"][0]["min_instance_count"] == 0


@pytest.mark.parametrize(
    ("image", "valid"),
    [
        ("europe-west1-docker.pkg.dev/p-1/aggregat/aggregat:2026-12-01", True),
        ("europe-west1-docker.pkg.dev/p-1/aggregat/aggregat@sha256:" + "a" * 64, True),
        ("europe-west1-docker.pkg.dev/p-1/aggregat/aggregat", False),
        ("aggregat:latest", False),
    ],
)
def test_dashboard_image_must_be_a_full_reference(image: str, valid: bool):
    condition = variables()["dashboard_image"]["validation"][0]["condition"]
    pattern = re.search(r'regex\("([^"]+)"', condition).group(1).replace("\\\\", "\\")
    assert bool(re.match(pattern, image)) is valid


# --- the provider lock ----------------------------------------------------------------------------


def test_lock_file_pins_a_version_the_constraint_allows_with_its_checksums():
    lock = parse(".terraform.lock.hcl")["provider"]
    providers = {name: body for block in lock for name, body in block.items()}
    assert list(providers) == ["registry.terraform.io/hashicorp/google"]
    google = providers["registry.terraform.io/hashicorp/google"]
    constraint = parse("versions.tf")["terraform"][0]["required_providers"][0]["google"]["version"]
    assert google["constraints"] == constraint
    floor = re.fullmatch(r"~>\s*(\d+)\.(\d+)", constraint)
    assert floor, constraint
    major, minor, _ = (int(x) for x in google["version"].split("."))
    assert major == int(floor.group(1)) and minor >= int(floor.group(2))
    hashes = google["hashes"]
    assert hashes == sorted(hashes), "terraform writes hashes sorted"
    h1 = [h for h in hashes if h.startswith("h1:")]
    zh = [h for h in hashes if h.startswith("zh:")]
    assert h1 and all(re.fullmatch(r"h1:[A-Za-z0-9+/]{43}=", h) for h in h1)
    # One zip checksum per published platform build, as the registry signs them.
    assert len(zh) >= 10 and all(re.fullmatch(r"zh:[0-9a-f]{64}", h) for h in zh)
    assert len(h1) + len(zh) == len(hashes)
