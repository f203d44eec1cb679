# Production: the datasets Looker Studio reads. Replace project_id with your project.
project_id  = "my-aggregat-prod"
environment = "prod"
region      = "europe-west1"

bucket_location   = "EU"
bigquery_location = "EU"

datasets = {
  staging     = "staging"
  development = "development"
  production  = "production"
}

labels = {
  team = "energy-data"
}

weather_archive_transitions = {
  nearline_after_days = 30
  coldline_after_days = 90
  archive_after_days  = 365
}

noncurrent_version_retention_days = 30
temporary_prefixes                = ["tmp/"]
temporary_object_age_days         = 2

# e.g. ["group:energy-dashboards@example.com"]
dashboard_readers = []
enable_cloud_run  = false

# Who may impersonate the worker's service account (docs/gcp.md, step 3), e.g.
# "group:aggregat-operators@example.com"; null: nobody.
deployer_principal = null

# The dashboard on Cloud Run (docs/gcp.md, step 8): set enable_dashboard, push the image, then
# dashboard_image; dashboard_invokers are the people or groups who may open it.
enable_dashboard        = false
dashboard_image         = null
dashboard_invokers      = []
dashboard_ingress       = "INGRESS_TRAFFIC_ALL"
dashboard_max_instances = 2
