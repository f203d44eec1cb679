# The aggregat platform on GCP: the lake bucket, the warehouse datasets, the worker's identity
# with least-privilege bindings, and the optional serverless (Cloud Run) pieces.

locals {
  bucket_name = coalesce(var.bucket_name, "${var.project_id}-aggregat-${var.environment}-lake")
  labels = merge(var.labels, {
    app         = "aggregat"
    environment = var.environment
  })

  services = concat(
    [
      "bigquery.googleapis.com",
      "bigquerystorage.googleapis.com",
      "cloudresourcemanager.googleapis.com",
      "iam.googleapis.com",
      "iamcredentials.googleapis.com",
      "secretmanager.googleapis.com",
      "storage.googleapis.com",
    ],
    local.image_repository ? ["artifactregistry.googleapis.com", "run.googleapis.com"] : [],
  )

  # The image (Dockerfile) serves Cloud Run flow runs and the dashboard service alike.
  image_repository  = var.enable_cloud_run || var.enable_dashboard
  dashboard_service = var.enable_dashboard && var.dashboard_image != null

  # What the flows and the dashboard read as AGGREGAT_* settings (also the aggregat_env output).
  aggregat_env = {
    AGGREGAT_ENV                 = var.environment
    AGGREGAT_PROFILE             = "gcp"
    AGGREGAT_GCP_PROJECT         = var.project_id
    AGGREGAT_LAKE_URL            = "gs://${google_storage_bucket.lake.name}"
    AGGREGAT_BIGQUERY_LOCATION   = var.bigquery_location
    AGGREGAT_STAGING_DATASET     = google_bigquery_dataset.aggregat["staging"].dataset_id
    AGGREGAT_DEVELOPMENT_DATASET = google_bigquery_dataset.aggregat["development"].dataset_id
    AGGREGAT_PRODUCTION_DATASET  = google_bigquery_dataset.aggregat["production"].dataset_id
  }

  # Secrets the platform uses, by the setting that carries each; values never pass through
  # Terraform (`gcloud secrets versions add`, docs/gcp.md). `flows`: read by the flow runs
  # themselves (Cloud Run jobs get them through the pool's env_from_secrets); the webhook is read
  # only where `make setup` runs, which saves it in a Prefect block.
  secrets = {
    # ODRÉ Explore API key (raises quotas).
    odre_api_key = { setting = "AGGREGAT_ODRE_API_KEY", flows = true }
    # Météo-France portail-api key (DPPaquetARPEGE / DPPaquetAROME).
    meteofrance_api_key = { setting = "AGGREGAT_METEOFRANCE_API_KEY", flows = true }
    # Where failed or crashed flow runs are posted.
    failure_webhook_url = { setting = "AGGREGAT_FAILURE_WEBHOOK_URL", flows = false }
  }
  # The worker reads every secret (it runs setup and process-pool flows); the Cloud Run job
  # identity only the flows' own.
  secret_readers = {
    for pair in setproduct(keys(local.data_writers), keys(local.secrets)) :
    "${pair[0]}/${pair[1]}" => { member = local.data_writers[pair[0]], secret = pair[1] }
    if pair[0] == "worker" || local.secrets[pair[1]].flows
  }

  dataset_descriptions = {
    staging     = "aggregat ${var.environment}: lake data loaded as typed, day-partitioned tables."
    development = "aggregat ${var.environment}: dbt staging and intermediate models."
    production  = "aggregat ${var.environment}: production marts read by Looker Studio and the forecast."
  }

  # Identities that read and write the data: the worker, plus the Cloud Run job identity.
  data_writers = merge(
    { worker = google_service_account.worker.member },
    var.enable_cloud_run ? { cloud_run = google_service_account.cloud_run[0].member } : {},
  )
  dataset_writer_bindings = {
    for pair in setproduct(keys(local.data_writers), keys(var.datasets)) :
    "${pair[0]}/${pair[1]}" => { member = local.data_writers[pair[0]], dataset = pair[1] }
  }
}

# --- APIs ----------------------------------------------------------------------------------

resource "google_project_service" "enabled" {
  for_each = toset(local.services)

  service = each.value
  # Other workloads in a shared project may use the same APIs: never switch them off.
  disable_on_destroy = false
}

# --- the lake --------------------------------------------------------------------------------

resource "google_storage_bucket" "lake" {
  #checkov:skip=CKV_GCP_62:Access logs would go to a second bucket nobody reads; Cloud Audit Logs (data access, enabled below by google_project_iam_audit_config.storage_data_access) record who read or wrote each object.
  name     = local.bucket_name
  location = var.bucket_location

  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # The lake is the source of truth: destroying the stack must never empty it.
  force_destroy = false

  versioning {
    enabled = true
  }

  # Archived raw GRIB is read only by backfill: move it to colder classes as it ages, never delete
  # it (the publisher keeps about 15 days; after that the lake holds the only copy).
  lifecycle_rule {
    condition {
      age                   = var.weather_archive_transitions.nearline_after_days
      matches_prefix        = ["raw/meteofrance/"]
      matches_storage_class = ["STANDARD"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.weather_archive_transitions.coldline_after_days
      matches_prefix        = ["raw/meteofrance/"]
      matches_storage_class = ["NEARLINE"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "COLDLINE"
    }
  }

  lifecycle_rule {
    condition {
      age                   = var.weather_archive_transitions.archive_after_days
      matches_prefix        = ["raw/meteofrance/"]
      matches_storage_class = ["COLDLINE"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "ARCHIVE"
    }
  }

  # Versions replaced by a partition rewrite are an undo window, not an archive.
  lifecycle_rule {
    condition {
      with_state                 = "ARCHIVED"
      days_since_noncurrent_time = var.noncurrent_version_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # Temporary objects (load staging files and the like) only.
  lifecycle_rule {
    condition {
      age            = var.temporary_object_age_days
      matches_prefix = var.temporary_prefixes
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = var.temporary_object_age_days
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Data-access audit logs are off by default for Cloud Storage; with them, every object read and
# write of the lake is logged (who, which object, when). This resource is authoritative for the
# project's storage.googleapis.com audit configuration. Cost: Data Access log volume above the
# free Cloud Logging allotment is billed (docs/gcp.md).
resource "google_project_iam_audit_config" "storage_data_access" {
  project = var.project_id
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

# --- the warehouse ---------------------------------------------------------------------------

resource "google_bigquery_dataset" "aggregat" {
  #checkov:skip=CKV_GCP_81:Public open data only (ODRÉ, Météo-France); Google-managed encryption is enough and avoids a KMS key to operate.
  for_each = var.datasets

  dataset_id    = each.value
  friendly_name = "aggregat ${each.key} (${var.environment})"
  description   = local.dataset_descriptions[each.key]
  location      = var.bigquery_location

  # Tables are rebuilt by loads and dbt; destroying the stack must not drop data silently.
  delete_contents_on_destroy = false

  depends_on = [google_project_service.enabled]
}

# --- the worker's identity -------------------------------------------------------------------

resource "google_service_account" "worker" {
  account_id   = "aggregat-${var.environment}-worker"
  display_name = "aggregat ${var.environment} Prefect worker"
  description  = "Runs the aggregat flows: writes the lake, loads BigQuery, runs dbt."

  depends_on = [google_project_service.enabled]
}

# Object admin on the lake bucket only (not storage admin, not project-wide).
resource "google_storage_bucket_iam_member" "lake_writer" {
  for_each = local.data_writers

  bucket = google_storage_bucket.lake.name
  role   = "roles/storage.objectAdmin"
  member = each.value
}

# Data editor on the platform's own datasets only.
resource "google_bigquery_dataset_iam_member" "data_editor" {
  for_each = local.dataset_writer_bindings

  dataset_id = google_bigquery_dataset.aggregat[each.value.dataset].dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = each.value.member
}

# Running queries and load jobs is a project permission; jobUser grants nothing on data.
resource "google_project_iam_member" "job_user" {
  for_each = local.data_writers

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = each.value
}

# Whoever impersonates the worker (`gcloud auth application-default login
# --impersonate-service-account=...`, to run `make setup` or a worker without a key) needs a
# token creator grant on that one account, not on the project.
resource "google_service_account_iam_member" "deployer_impersonates_worker" {
  count = var.deployer_principal == null ? 0 : 1

  service_account_id = google_service_account.worker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = var.deployer_principal
}

# --- secrets ---------------------------------------------------------------------------------

resource "google_secret_manager_secret" "aggregat" {
  for_each = local.secrets

  secret_id = "aggregat-${var.environment}-${replace(each.key, "_", "-")}"
  # Labels carry no free text: the setting names what the secret is (see local.secrets).
  labels = { setting = lower(each.value.setting) }

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = local.secret_readers

  secret_id = google_secret_manager_secret.aggregat[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value.member
}

# --- Looker Studio readers -------------------------------------------------------------------

resource "google_bigquery_dataset_iam_member" "dashboard_reader" {
  for_each = toset(var.dashboard_readers)

  dataset_id = google_bigquery_dataset.aggregat["production"].dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value
}

resource "google_project_iam_member" "dashboard_job_user" {
  for_each = toset(var.dashboard_readers)

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = each.value
}

# --- optional: flows on Cloud Run (a cloud-run work pool) ------------------------------------

# The project's image (Dockerfile): Cloud Run flow runs and the dashboard service.
resource "google_artifact_registry_repository" "flows" {
  #checkov:skip=CKV_GCP_84:The image holds only the project's code and open-source packages, no data or secrets (.dockerignore, tests/test_image.py); Google-managed encryption is enough.
  count = local.image_repository ? 1 : 0

  location      = var.region
  repository_id = var.artifact_registry_repository
  description   = "aggregat ${var.environment}: the project image (Cloud Run flow runs and dashboard)."
  format        = "DOCKER"

  docker_config {
    immutable_tags = true
  }

  # Keep the last images, drop older untagged ones.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  cleanup_policies {
    id     = "delete-old-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}

# The identity the Cloud Run jobs run as: the same data rights as the worker (bindings above).
resource "google_service_account" "cloud_run" {
  count = var.enable_cloud_run ? 1 : 0

  account_id   = "aggregat-${var.environment}-run"
  display_name = "aggregat ${var.environment} Cloud Run flow runs"
  description  = "Identity of the Cloud Run jobs created by the cloud-run work pool."

  depends_on = [google_project_service.enabled]
}

# No Artifact Registry grant for that identity: Cloud Run pulls images with its own service
# agent, which reads repositories of the same project by default.

# The worker creates and runs the Cloud Run jobs. Jobs do not exist before the worker creates
# them, so this role can only be granted on the project.
resource "google_project_iam_member" "worker_run_developer" {
  count = var.enable_cloud_run ? 1 : 0

  project = var.project_id
  role    = "roles/run.developer"
  member  = google_service_account.worker.member
}

# ... and may attach only the Cloud Run identity to them (granted on that account, not the project).
resource "google_service_account_iam_member" "worker_acts_as_cloud_run" {
  count = var.enable_cloud_run ? 1 : 0

  service_account_id = google_service_account.cloud_run[0].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.worker.member
}

# --- optional: the dashboard as a Cloud Run service ------------------------------------------

# Its own read-only identity: the production marts, and queries billed to the project.
resource "google_service_account" "dashboard" {
  count = var.enable_dashboard ? 1 : 0

  account_id   = "aggregat-${var.environment}-dashboard"
  display_name = "aggregat ${var.environment} dashboard"
  description  = "Runs the dashboard on Cloud Run: reads the production dataset, nothing else."

  depends_on = [google_project_service.enabled]
}

resource "google_bigquery_dataset_iam_member" "dashboard_service_reader" {
  count = var.enable_dashboard ? 1 : 0

  dataset_id = google_bigquery_dataset.aggregat["production"].dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.dashboard[0].member
}

resource "google_project_iam_member" "dashboard_service_job_user" {
  count = var.enable_dashboard ? 1 : 0

  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.dashboard[0].member
}

# Created once an image is named (push it first: docs/gcp.md). Invoking needs run.invoker:
# no allUsers, so nobody reaches it without a Google identity that was granted access.
resource "google_cloud_run_v2_service" "dashboard" {
  count = local.dashboard_service ? 1 : 0

  name        = "aggregat-${var.environment}-dashboard"
  location    = var.region
  description = "aggregat ${var.environment}: the dashboard over the production marts."
  ingress     = var.dashboard_ingress

  # Stateless (the data is in BigQuery): switching enable_dashboard off may delete it.
  deletion_protection = false

  template {
    service_account = google_service_account.dashboard[0].email
    # Streamlit keeps one websocket per browser tab: long requests, and the same instance.
    timeout                          = "3600s"
    session_affinity                 = true
    max_instance_request_concurrency = 40

    scaling {
      min_instance_count = 0
      max_instance_count = var.dashboard_max_instances
    }

    containers {
      image   = var.dashboard_image
      command = slice(var.dashboard_command, 0, 1)
      args    = slice(var.dashboard_command, 1, length(var.dashboard_command))

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = var.dashboard_memory
        }
        cpu_idle = true
      }

      # Streamlit reads its options from STREAMLIT_* variables (as `make dashboard` passes flags).
      dynamic "env" {
        for_each = merge(local.aggregat_env, {
          AGGREGAT_DASHBOARD_PORT       = "8080"
          STREAMLIT_SERVER_PORT         = "8080"
          STREAMLIT_SERVER_ADDRESS      = "0.0.0.0"
          STREAMLIT_SERVER_HEADLESS     = "true"
          STREAMLIT_CLIENT_TOOLBAR_MODE = "viewer"
        })
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_bigquery_dataset_iam_member.dashboard_service_reader,
    google_project_iam_member.dashboard_service_job_user,
  ]
}

resource "google_cloud_run_v2_service_iam_member" "dashboard_invoker" {
  for_each = local.dashboard_service ? toset(var.dashboard_invokers) : toset([])

  project  = var.project_id
  location = google_cloud_run_v2_service.dashboard[0].location
  name     = google_cloud_run_v2_service.dashboard[0].name
  role     = "roles/run.invoker"
  member   = each.value
}
