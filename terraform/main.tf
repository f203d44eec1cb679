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
      "storage.googleapis.com",
    ],
    var.enable_cloud_run ? ["artifactregistry.googleapis.com", "run.googleapis.com"] : [],
  )

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
  #checkov:skip=CKV_GCP_62:Access logs would go to a second bucket nobody reads; Cloud Audit Logs (data access) cover who touched the lake.
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

# The BigQuery Storage Read API (fast result downloads) needs read sessions in the project.
resource "google_project_iam_member" "read_session_user" {
  for_each = local.data_writers

  project = var.project_id
  role    = "roles/bigquery.readSessionUser"
  member  = each.value
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

resource "google_artifact_registry_repository" "flows" {
  #checkov:skip=CKV_GCP_84:The image holds only the project's public code; Google-managed encryption is enough.
  count = var.enable_cloud_run ? 1 : 0

  location      = var.region
  repository_id = var.artifact_registry_repository
  description   = "aggregat ${var.environment}: the flow image run by Cloud Run jobs."
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

resource "google_artifact_registry_repository_iam_member" "cloud_run_pull" {
  count = var.enable_cloud_run ? 1 : 0

  location   = google_artifact_registry_repository.flows[0].location
  repository = google_artifact_registry_repository.flows[0].name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.cloud_run[0].member
}

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
