# syntax=docker/dockerfile:1
# The aggregat image: the flows as Cloud Run jobs (a cloud-run-v2 work pool) and the dashboard
# as a Cloud Run service, from one build. From the repository root (docs/gcp.md, step 7):
#   docker build -t aggregat:dev .
# Everything Python comes from the compiled lock requirements.txt, synced by uv as `make install`
# does; nothing secret is baked in (settings and secrets arrive as environment variables).

# Both stages must share one base: the virtual environment points at its interpreter.
ARG PYTHON_IMAGE=python:3.11-slim-trixie

# --- build: the virtual environment from the lock -------------------------------------------
FROM ${PYTHON_IMAGE} AS build

# Same uv as the Makefile's UV_VERSION.
ARG UV_VERSION=0.13.9
ENV VIRTUAL_ENV=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /build
COPY requirements.txt ./
RUN python -m venv --without-pip "${VIRTUAL_ENV}"
# The cache mount keeps downloaded wheels between builds without putting them in a layer.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip sync --python "${VIRTUAL_ENV}/bin/python" requirements.txt

# --- runtime: the environment, the repository and an unprivileged user ----------------------
FROM ${PYTHON_IMAGE} AS runtime

# LightGBM's OpenMP runtime (libgomp.so.1): slim images do not carry it. Versions are left to
# the base image's Debian release; an exact pin would break when the mirror moves on.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 aggregat \
    && useradd --system --uid 10001 --gid aggregat --create-home --home-dir /home/aggregat \
       --shell /usr/sbin/nologin aggregat

COPY --from=build /opt/venv /opt/venv

# The code is owned by root and read-only for the flows; dbt's target/ and logs/ go to /tmp.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AGGREGAT_DBT_ARTIFACTS_DIR=/tmp/aggregat/dbt \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false

# setup_prefect.py's IMAGE_CODE_DIR: the cloud-run-v2 pool's deployments pull from here.
WORKDIR /opt/aggregat
COPY . .
RUN python -m compileall -q .

USER 10001:10001

# The dashboard's port on Cloud Run; flow-run jobs do not listen.
EXPOSE 8080

# Cloud Run jobs get `prefect flow-run execute` from the work pool; the dashboard service sets
# `streamlit run dashboard/app.py`. Without a command the image lists the project's commands.
CMD ["python", "-m", "flows", "--help"]
