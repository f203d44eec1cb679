# Development: its own datasets (suffix _dev) so it can share a project with production.
# Replace project_id with your project.
project_id  = "my-aggregat-dev"
environment = "dev"
region      = "europe-west1"

bucket_location   = "EU"
bigquery_location = "EU"

datasets = {
  staging     = "staging_dev"
  development = "development_dev"
  production  = "production_dev"
}

labels = {
  team = "energy-data"
}

# Same archive policy as production: backfill tests in dev read the same storage classes.
weather_archive_transitions = {
  nearline_after_days = 30
  coldline_after_days = 90
  archive_after_days  = 365
}

noncurrent_version_retention_days = 7
temporary_prefixes                = ["tmp/"]
temporary_object_age_days         = 2

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
