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
  description = "Docker repository of the project image, or null when neither enable_cloud_run nor enable_dashboard is set."
  value       = local.image_repository ? "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.flows[0].repository_id}" : null
}

output "cloud_run_service_account" {
  description = "E-mail of the identity Cloud Run flow runs use, or null when enable_cloud_run is false."
  value       = var.enable_cloud_run ? google_service_account.cloud_run[0].email : null
}

output "aggregat_env" {
  description = "AGGREGAT_* settings of this environment, for .env.<env> read by setup_prefect.py."
  value       = local.aggregat_env
}

output "secrets" {
  description = "Secret Manager secret ids by the AGGREGAT_* setting each holds (add values with gcloud secrets versions add)."
  value       = { for name, secret in local.secrets : secret.setting => google_secret_manager_secret.aggregat[name].secret_id }
}

output "env_from_secrets" {
  description = "The flows' secrets in the shape of a cloud-run-v2 work pool's env_from_secrets variable."
  value = {
    for name, secret in local.secrets : secret.setting => {
      secret  = google_secret_manager_secret.aggregat[name].secret_id
      version = "latest"
    } if secret.flows
  }
}

output "dashboard_service_account" {
  description = "E-mail of the dashboard's read-only identity, or null when enable_dashboard is false."
  value       = var.enable_dashboard ? google_service_account.dashboard[0].email : null
}

output "dashboard_url" {
  description = "URL of the dashboard service (IAM-protected: open it through gcloud run services proxy), or null before dashboard_image is set."
  value       = local.dashboard_service ? google_cloud_run_v2_service.dashboard[0].uri : null
}
