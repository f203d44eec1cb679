# Everything that differs between environments is a variable; envs/<env>.tfvars sets them.

variable "project_id" {
  type        = string
  description = "GCP project that holds the platform (one project per environment, or one shared)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a GCP project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "environment" {
  type        = string
  description = "Environment name; the Prefect work pool is aggregat-<environment>."

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "region" {
  type        = string
  description = "Region of regional resources (Artifact Registry, Cloud Run jobs)."
  default     = "europe-west1"
}

variable "bucket_location" {
  type        = string
  description = "Location of the lake bucket; keep it compatible with bigquery_location so load jobs read gs:// directly."
  default     = "EU"
}

variable "bigquery_location" {
  type        = string
  description = "Location of the BigQuery datasets (AGGREGAT_BIGQUERY_LOCATION)."
  default     = "EU"
}

variable "bucket_name" {
  type        = string
  description = "Name of the lake bucket; null means <project_id>-aggregat-<environment>-lake."
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid GCS bucket name (3-63 lowercase characters)."
  }
}

variable "datasets" {
  type = object({
    staging     = string
    development = string
    production  = string
  })
  description = "BigQuery dataset ids: loaded lake data, dbt staging/intermediate models, production marts."
  default = {
    staging     = "staging"
    development = "development"
    production  = "production"
  }

  validation {
    condition = alltrue([
      for id in values(var.datasets) : can(regex("^[A-Za-z0-9_]{1,1024}$", id))
    ])
    error_message = "Dataset ids may only contain letters, digits and underscores."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels on every resource (cost attribution); app and environment are always set."
  default     = {}
}

variable "weather_archive_transitions" {
  type = object({
    nearline_after_days = number
    coldline_after_days = number
    archive_after_days  = number
  })
  description = "Ages (days) at which archived raw GRIB under raw/meteofrance/ moves to colder storage. Never deleted: backfill rebuilds from it."
  default = {
    nearline_after_days = 30
    coldline_after_days = 90
    archive_after_days  = 365
  }

  validation {
    condition = (
      var.weather_archive_transitions.nearline_after_days >= 1 &&
      var.weather_archive_transitions.coldline_after_days > var.weather_archive_transitions.nearline_after_days &&
      var.weather_archive_transitions.archive_after_days > var.weather_archive_transitions.coldline_after_days
    )
    error_message = "Transitions must be increasing: nearline < coldline < archive, all at least 1 day."
  }
}

variable "noncurrent_version_retention_days" {
  type        = number
  description = "Days an overwritten or deleted object version is kept (undo window) before deletion."
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "temporary_prefixes" {
  type        = list(string)
  description = "Object prefixes holding temporary files (e.g. BigQuery load staging), deleted after temporary_object_age_days."
  default     = ["tmp/"]

  validation {
    condition = alltrue([
      for p in var.temporary_prefixes :
      length(p) > 0 && endswith(p, "/") && !anytrue([
        for kept in ["raw/", "landing/", "curated/", "models/"] : startswith(p, kept)
      ])
    ])
    error_message = "temporary_prefixes must be non-empty folder prefixes ending in / and outside raw/, landing/, curated/ and models/."
  }
}

variable "temporary_object_age_days" {
  type        = number
  description = "Age (days) after which temporary objects are deleted and incomplete multipart uploads aborted."
  default     = 2

  validation {
    condition     = var.temporary_object_age_days >= 1
    error_message = "temporary_object_age_days must be at least 1."
  }
}

variable "dashboard_readers" {
  type        = list(string)
  description = "IAM members (user:, group:, serviceAccount:) who read the production dataset from Looker Studio."
  default     = []

  validation {
    condition = alltrue([
      for m in var.dashboard_readers : can(regex("^(user|group|serviceAccount|domain):", m))
    ])
    error_message = "dashboard_readers entries must start with user:, group:, serviceAccount: or domain:."
  }
}

variable "enable_cloud_run" {
  type        = bool
  description = "Create the serverless option: an Artifact Registry repository for the project image and a Cloud Run job identity for a cloud-run-v2 work pool."
  default     = false
}

variable "artifact_registry_repository" {
  type        = string
  description = "Artifact Registry (Docker) repository id for the project image (enable_cloud_run or enable_dashboard)."
  default     = "aggregat"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.artifact_registry_repository))
    error_message = "artifact_registry_repository must be lowercase letters, digits and hyphens."
  }
}

variable "deployer_principal" {
  type        = string
  description = "IAM member (user:, group:, serviceAccount:) allowed to impersonate the worker's service account (roles/iam.serviceAccountTokenCreator on it) to run make setup or a worker without a key; null: nobody."
  default     = null

  validation {
    condition     = var.deployer_principal == null || can(regex("^(user|group|serviceAccount):[^@\\s]+@[^@\\s]+$", var.deployer_principal))
    error_message = "deployer_principal must be user:EMAIL, group:EMAIL or serviceAccount:EMAIL (or null)."
  }
}

variable "enable_dashboard" {
  type        = bool
  description = "Create the dashboard's read-only service account (BigQuery Data Viewer on the production dataset, Job User) and the image repository; the Cloud Run service follows once dashboard_image is set."
  default     = false
}

variable "dashboard_image" {
  type        = string
  description = "Image of the dashboard service, <repository url>/aggregat:<tag> (the project image); null: no service yet."
  default     = null

  validation {
    condition     = var.dashboard_image == null || can(regex("^[a-z0-9.-]+(:[0-9]+)?/[^:@\\s]+(:[\\w][\\w.-]{0,127}|@sha256:[0-9a-f]{64})$", var.dashboard_image))
    error_message = "dashboard_image must be a full image reference with a tag or digest, e.g. europe-west1-docker.pkg.dev/PROJECT/aggregat/aggregat:2026-12-01."
  }
}

variable "dashboard_command" {
  type        = list(string)
  description = "Command of the dashboard container, run from the image's working directory (the repository)."
  default     = ["streamlit", "run", "dashboard/app.py"]

  validation {
    condition     = length(var.dashboard_command) >= 1
    error_message = "dashboard_command needs at least the program to run."
  }
}

variable "dashboard_ingress" {
  type        = string
  description = "Where requests to the dashboard may come from (Cloud Run ingress); with ALL, IAM still requires a granted Google identity."
  default     = "INGRESS_TRAFFIC_ALL"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.dashboard_ingress)
    error_message = "dashboard_ingress must be INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "dashboard_invokers" {
  type        = list(string)
  description = "IAM members (user:, group:, serviceAccount:, domain:) granted roles/run.invoker on the dashboard service; never allUsers or allAuthenticatedUsers."
  default     = []

  validation {
    condition = alltrue([
      for m in var.dashboard_invokers : can(regex("^(user|group|serviceAccount|domain):", m))
    ])
    error_message = "dashboard_invokers entries must start with user:, group:, serviceAccount: or domain: (no public access)."
  }
}

variable "dashboard_max_instances" {
  type        = number
  description = "Most dashboard instances Cloud Run may start (each holds the browser sessions routed to it)."
  default     = 2

  validation {
    condition     = var.dashboard_max_instances >= 1 && var.dashboard_max_instances <= 20
    error_message = "dashboard_max_instances must be between 1 and 20."
  }
}

variable "dashboard_memory" {
  type        = string
  description = "Memory limit of a dashboard instance (Cloud Run units, e.g. 1Gi)."
  default     = "1Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.dashboard_memory))
    error_message = "dashboard_memory must be a Cloud Run memory size such as 512Mi or 1Gi."
  }
}
