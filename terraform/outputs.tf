# What the next steps need: setup_prefect.py reads the AGGREGAT_* settings of the environment
# (`terraform output -json aggregat_env` written to .env.<env>, see docs/gcp.md).

output "bucket_name" {
  description = "The lake bucket."
  value       = google_storage_bucket.lake.name
}

output "lake_url" {
  description = "The lake as AGGREGAT_LAKE_URL."
  value       = "gs://${google_storage_bucket.lake.name}"
}

output "datasets" {
  description = "BigQuery dataset ids by role (staging, development, production)."
  value       = { for role, dataset in google_bigquery_dataset.aggregat : role => dataset.dataset_id }
}

output "worker_service_account" {
  description = "E-mail of the Prefect worker's service account (ADC on the worker host, or a key for the GcpCredentials block)."
  value       = google_service_account.worker.email
}

output "work_pool_name" {
  description = "The Prefect work pool of this environment (make agent ENV=<env>)."
  value       = "aggregat-${var.environment}"
}

output "artifact_registry_repository_url" {
  description = "Docker repository of the flow image for Cloud Run, or null when enable_cloud_run is false."
  value       = var.enable_cloud_run ? "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.flows[0].repository_id}" : null
}

output "cloud_run_service_account" {
  description = "E-mail of the identity Cloud Run flow runs use, or null when enable_cloud_run is false."
  value       = var.enable_cloud_run ? google_service_account.cloud_run[0].email : null
}

output "aggregat_env" {
  description = "AGGREGAT_* settings of this environment, for .env.<env> read by setup_prefect.py."
  value = {
    AGGREGAT_ENV                 = var.environment
    AGGREGAT_PROFILE             = "gcp"
    AGGREGAT_GCP_PROJECT         = var.project_id
    AGGREGAT_LAKE_URL            = "gs://${google_storage_bucket.lake.name}"
    AGGREGAT_BIGQUERY_LOCATION   = var.bigquery_location
    AGGREGAT_STAGING_DATASET     = google_bigquery_dataset.aggregat["staging"].dataset_id
    AGGREGAT_DEVELOPMENT_DATASET = google_bigquery_dataset.aggregat["development"].dataset_id
    AGGREGAT_PRODUCTION_DATASET  = google_bigquery_dataset.aggregat["production"].dataset_id
  }
}
