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
PROJECT_ROLES = {"roles/bigquery.jobUser", "roles/bigquery.readSessionUser", "roles/run.developer"}
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


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.skip(f"checkov not installed at {CHECKOV}; `make test` builds .venv-checkov")
    done = subprocess.run(
        [str(CHECKOV), "-d", str(TERRAFORM), "--framework", "terraform", "--skip-download"]
        + ["--output", "json"],
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
    assert "roles/bigquery.jobUser" in project_bindings


def test_cloud_run_resources_are_optional():
    assert variables()["enable_cloud_run"]["default"] is False
    optional = [
        "google_artifact_registry_repository",
        "google_service_account_iam_member",
        "google_artifact_registry_repository_iam_member",
    ]
    for kind in optional:
        for name, body in resources(kind).items():
            assert body.get("count") == "${var.enable_cloud_run ? 1 : 0}", f"{kind}.{name}"
    assert resources("google_service_account")["cloud_run"]["count"]


def test_apis_are_enabled_and_never_disabled_on_destroy():
    service = resources("google_project_service")["enabled"]
    assert service["disable_on_destroy"] is False
    locals_ = parse("main.tf")["locals"][0]
    for api in ("bigquery", "storage", "iam", "run", "artifactregistry"):
        assert f"{api}.googleapis.com" in locals_["services"]
