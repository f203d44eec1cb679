# Terraform and provider versions. The google provider stays within one major version so a
# `terraform init -upgrade` never pulls in breaking schema changes unannounced; the version
# actually used is the one in .terraform.lock.hcl (6.50.0, with its published checksums).
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
  }

  # Partial configuration: the bucket and prefix come from `-backend-config`
  # (see backend.gcs.hcl.example), so the same code serves every environment.
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = local.labels
}
