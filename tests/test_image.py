"""The container image, checked without a Docker engine (none runs here).

The Dockerfile is parsed with dockerfile-parse; the .dockerignore rules are applied with
docker-py's implementation of Docker's matching; hadolint lints the file; and the slow test
replays the image's own steps (the build stage's RUN lines, the runtime's COPY of the context
and its byte-compilation) in a temporary folder, offline from the lock, then runs the image's
commands in the result. What only a real build shows (apt inside the base image, the user,
file ownership) is checked structurally.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import venv
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pathspec
import pytest
from docker.utils.build import PatternMatcher, exclude_paths
from dockerfile_parse import DockerfileParser
from dockerfile_parse.util import extract_key_values

import setup_prefect

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = ROOT / ".venv-hadolint" / "bin" / "hadolint"
# Libraries every Debian base image has (glibc, the GCC runtime, zlib: priority "required").
BASE_IMAGE_LIBS = {
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libdl.so.2",
    "libgcc_s.so.1",
    "libm.so.6",
    "libpthread.so.0",
    "libresolv.so.2",
    "librt.so.1",
    "libstdc++.so.6",
    "libutil.so.1",
    "libz.so.1",
}
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|WEBHOOK", re.I)


# --- the Dockerfile as stages -----------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    steps: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for kind, value in self.steps if kind == instruction]

    def env(self, start: dict[str, str] | None = None) -> dict[str, str]:
        """The stage's ENV, each value expanded against the variables before it."""
        envs = dict(start or {})
        for kind, value in self.steps:
            if kind == "ENV":
                envs.update(extract_key_values(True, args_defaults(), envs, value))
        return envs


@cache
def args_defaults() -> dict[str, str]:
    parser = DockerfileParser(str(DOCKERFILE))
    found: dict[str, str] = {}
    for item in parser.structure:
        if item["instruction"] == "ARG" and "=" in item["value"]:
            key, value = item["value"].split("=", 1)
            found[key] = value
    return found


@cache
def stages() -> tuple[Stage, ...]:
    parser = DockerfileParser(str(DOCKERFILE))
    found: list[Stage] = []
    for item in parser.structure:
        kind, value = item["instruction"], item["value"]
        if kind == "FROM":
            image, _, name = value.partition(" AS ")
            base = re.sub(r"\$\{(\w+)\}", lambda m: args_defaults()[m.group(1)], image.strip())
            found.append(Stage(name.strip(), base))
        elif found and kind != "COMMENT":
            found[-1].steps.append((kind, value))
    return tuple(found)


def stage(name: str) -> Stage:
    return next(s for s in stages() if s.name == name)


def run_flags(command: str) -> tuple[list[str], str]:
    """BuildKit flags of a RUN (`--mount=...`) and the shell command after them."""
    flags = []
    while command.startswith("--"):
        flag, _, command = command.partition(" ")
        flags.append(flag)
        command = command.lstrip()
    return flags, command


def apt_packages(runtime: Stage) -> list[str]:
    packages = []
    for command in runtime.values("RUN"):
        match = re.search(r"apt-get install ([^&;|]+)", command)
        if match:
            packages += [w for w in match.group(1).split() if not w.startswith("-")]
    return packages


# --- the Dockerfile's structure ---------------------------------------------------------------


def test_two_stages_on_one_python_base():
    assert [s.name for s in stages()] == ["build", "runtime"]
    build, runtime = stages()
    # The virtual environment's interpreter is the base image's: both stages must share it.
    assert build.base == runtime.base
    assert re.fullmatch(r"python:3\.11[\w.-]*-slim[\w.-]*", build.base), build.base
    assert ":latest" not in build.base


def test_build_stage_syncs_the_compiled_lock_with_the_makefiles_uv():
    build = stage("build")
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert makefile_uv and f"UV_VERSION={makefile_uv.group(1)}" in build.values("ARG")
    copies = [shlex.split(v) for v in build.values("COPY")]
    assert copies == [["requirements.txt", "./"]], "only the lock enters the build stage"
    syncs = [run_flags(c)[1] for c in build.values("RUN") if "uv pip sync" in c]
    assert len(syncs) == 1 and syncs[0].split()[-1] == "requirements.txt"
    assert not [c for c in build.values("RUN") if re.search(r"pip install (?!.*uv==)", c)]


def test_runtime_takes_the_environment_whole_and_puts_it_first_on_path():
    build_env = stage("build").env()
    runtime = stage("runtime")
    runtime_env = runtime.env({"PATH": "/usr/local/bin:/usr/bin"})
    venv_dir = build_env["VIRTUAL_ENV"]
    assert f"--from=build {venv_dir} {venv_dir}" in runtime.values("COPY")
    assert runtime_env["VIRTUAL_ENV"] == venv_dir
    assert runtime_env["PATH"].split(":")[0] == f"{venv_dir}/bin"
    assert runtime_env["PATH"].endswith("/usr/local/bin:/usr/bin"), "the base PATH is kept"


def test_runtime_installs_libgomp_without_recommends_and_drops_apt_lists():
    runtime = stage("runtime")
    assert "libgomp1" in apt_packages(runtime)
    for command in runtime.values("RUN"):
        if "apt-get install" in command:
            assert "--no-install-recommends" in command and "-y" in command.split()
            assert "apt-get update" in command, "update and install in one layer"
            assert "rm -rf /var/lib/apt/lists/*" in command


def test_repository_sits_where_setup_prefect_points_cloud_run_deployments():
    runtime = stage("runtime")
    kinds = [kind for kind, _ in runtime.steps]
    workdirs = runtime.values("WORKDIR")
    assert workdirs[-1] == setup_prefect.IMAGE_CODE_DIR
    copy_context = kinds.index("COPY", kinds.index("WORKDIR"))
    assert runtime.steps[copy_context] == ("COPY", ". .")


def test_runs_as_an_unprivileged_numeric_user_after_every_root_step():
    runtime = stage("runtime")
    kinds = [kind for kind, _ in runtime.steps]
    users = runtime.values("USER")
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) >= 1000, users[-1]
    assert re.search(rf"useradd .*--uid {user}\b", " ".join(runtime.values("RUN")))
    # Nothing runs as root after the switch (no RUN, COPY or ADD behind it).
    after = kinds[len(kinds) - 1 - kinds[::-1].index("USER") :]
    assert not {"RUN", "COPY", "ADD"} & set(after)


def test_no_secret_is_built_in():
    for s in stages():
        names = [k for k in s.env()] + [v.split("=")[0] for v in s.values("ARG")]
        assert not [n for n in names if SECRET_NAME.search(n)], f"stage {s.name}: {names}"
        for source in s.values("COPY") + s.values("ADD"):
            assert not re.search(r"\.env|\.json|key", source, re.I), source
    assert not [v for v in args_defaults() if SECRET_NAME.search(v)]


def test_dbt_writes_outside_the_read_only_code():
    # The code is root's; the flows run as the image's user and dbt must write somewhere.
    artifacts = stage("runtime").env()["AGGREGAT_DBT_ARTIFACTS_DIR"]
    assert artifacts.startswith("/tmp/")
    from flows.settings import Settings

    assert "dbt_artifacts_dir" in Settings.model_fields


def test_default_command_is_the_projects_cli():
    cmd = stage("runtime").values("CMD")[-1]
    assert cmd.startswith("["), "exec form: signals reach Python"
    assert "ENTRYPOINT" not in [kind for s in stages() for kind, _ in s.steps], (
        "Cloud Run's command override replaces the entrypoint: keep none"
    )


# --- .dockerignore ----------------------------------------------------------------------------


@cache
def ignore_patterns() -> tuple[str, ...]:
    """The rules as Docker reads them: stripped lines, blanks and `#` comments dropped."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def copied(path: str) -> bool:
    """Whether `COPY . .` puts this context path in the image."""
    return not PatternMatcher(list(ignore_patterns())).matches(path)


KEPT_OUT = [
    ".venv/bin/python",
    ".venv-checkov/bin/checkov",
    ".venv-hadolint/bin/hadolint",
    "data/lake/raw/odre/2025-01-01.json",
    "data/warehouse.duckdb",
    "flows/scratch.duckdb",
    ".env",
    ".env.prod",
    "flows/.env",
    "worker-dev.json",
    "keys/aggregat-prod-worker.json",
    "flows/odre/sa.json",
    "reports/backtest_2019-01-01_2019-12-31.md",
    ".prefect/prefect.db",
    ".git/HEAD",
    "dbt/target/manifest.json",
    "dbt/logs/dbt.log",
    "terraform/terraform.tfstate",
    "terraform/.terraform/providers/registry.terraform.io/hashicorp/google/x",
    "terraform/envs/prod.tfvars",
    "terraform/backend.dev.hcl",
    "flows/__pycache__/settings.cpython-311.pyc",
    "tests/fakes/odre_server.py",
]


@cache
def gcloud_ignore() -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines((ROOT / ".gcloudignore").read_text().splitlines())


def uploaded(path: str) -> bool:
    """Whether `gcloud builds submit` sends this path to Cloud Build (gitignore semantics)."""
    return not gcloud_ignore().match_file(path)


@pytest.mark.parametrize("path", KEPT_OUT)
def test_dockerignore_keeps_local_state_and_secrets_out(path: str):
    assert not copied(path), f"{path} would go into the image"


@pytest.mark.parametrize("path", KEPT_OUT)
def test_gcloudignore_keeps_them_on_this_machine(path: str):
    # Kept out of the image is not enough: Cloud Build's upload sits in a bucket.
    assert not uploaded(path), f"gcloud builds submit would upload {path}"


def test_gcloudignore_uploads_everything_the_build_reads():
    build_inputs = [p for p in tracked_files() if copied(p)] + ["Dockerfile", ".dockerignore"]
    assert [p for p in build_inputs if not uploaded(p)] == []


def tracked_files() -> list[str]:
    done = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_dockerignore_keeps_everything_the_image_runs():
    needed = [
        p
        for p in tracked_files()
        if p.startswith(("flows/", "dbt/", "dashboard/"))
        or p in {"prefect.yaml", "requirements.txt", "pyproject.toml"}
    ]
    assert any(p.startswith("flows/") for p in needed) and "prefect.yaml" in needed
    dropped = [p for p in needed if not copied(p)]
    assert dropped == [], f"the image would miss {dropped}"
    # The dashboard (another change adds it) goes in with its Streamlit settings.
    for path in ("dashboard/app.py", "dashboard/queries.py", ".streamlit/config.toml"):
        assert copied(path), path


def test_no_tracked_json_is_dropped_by_the_key_rule():
    # `**/*.json` keeps keys out wherever they were saved; it must not drop real project files.
    assert [p for p in tracked_files() if p.endswith(".json")] == []


def test_a_real_context_sends_only_the_project(tmp_path: Path):
    kept = ["flows/settings.py", "dbt/models/marts/x.sql", "prefect.yaml", "requirements.txt"]
    for path in KEPT_OUT + kept:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    shutil.copy(ROOT / ".dockerignore", tmp_path / ".dockerignore")
    # docker-py walks the tree as the CLI does, pruning excluded folders. Docker always sends
    # the Dockerfile and .dockerignore (it needs them) but COPY leaves both out.
    sent = exclude_paths(str(tmp_path), list(ignore_patterns()))
    files = {p for p in sent if (tmp_path / p).is_file()} - {"Dockerfile", ".dockerignore"}
    assert files == set(kept)


# --- hadolint ---------------------------------------------------------------------------------


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    if not HADOLINT.exists():
        pytest.skip(f"hadolint not installed at {HADOLINT}; `make test` builds .venv-hadolint")
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_hadolint_passes_the_dockerfile():
    done = hadolint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_flags_what_the_dockerfile_avoids(tmp_path: Path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install libgomp1\nRUN pip install uv\nUSER root\n")
    done = hadolint(bad)
    assert done.returncode != 0
    # Untagged base, recommends, unpinned and cached pip, root as the last user.
    for rule in ("DL3006", "DL3015", "DL3013", "DL3042", "DL3002"):
        assert rule in done.stdout, done.stdout


# --- the image's steps, replayed --------------------------------------------------------------


@dataclass
class Replay:
    """The image's filesystem under `root` and its final environment and working directory."""

    root: Path
    env: dict[str, str]
    workdir: Path

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=300
        )


def image_paths() -> list[str]:
    """Absolute paths the Dockerfile creates (WORKDIR, ENV values): replayed under a folder."""
    paths = set()
    for s in stages():
        paths.update(s.values("WORKDIR"))
        paths.update(v for v in s.env().values() if v.startswith("/") and ":" not in v)
    return sorted(paths, key=len, reverse=True)


def replay(root: Path) -> Replay:
    """Run the Dockerfile's steps with `root` standing for the image's /."""
    prefixes = image_paths()

    def rooted(text: str) -> str:
        pattern = "|".join(re.escape(p) for p in prefixes)
        return re.sub(rf"(?<![\w/])({pattern})(?=/|\b|$)", lambda m: f"{root}{m.group(1)}", text)

    # The base image's Python, and the host's tools otherwise.
    base = root / "base"
    venv.create(base, with_pip=True)
    env = {
        "PATH": f"{base / 'bin'}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(root)),
        # Offline: every wheel must come from uv's cache, filled from the same lock.
        "UV_OFFLINE": "1",
    }
    # This host's way to the package registries (certificates, mirrors, proxies) and uv's cache.
    env.update(
        {
            k: v
            for k, v in os.environ.items()
            if k.startswith("PIP_")
            or k.lower().endswith("_proxy")
            or k in {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "UV_CACHE_DIR"}
        }
    )
    # Speed only, no effect on what resolves: link from the cache, skip bytecode of 1 GB.
    speed = {"UV_LINK_MODE": "hardlink", "UV_COMPILE_BYTECODE": "0"}
    workdir = root
    for s in stages():
        workdir = root
        for kind, value in s.steps:
            if kind == "ENV":
                for key, val in extract_key_values(True, args_defaults(), env, value):
                    env[key] = rooted(val)
                env.update({k: v for k, v in speed.items() if k in env})
            elif kind == "WORKDIR":
                workdir = Path(rooted(value))
                workdir.mkdir(parents=True, exist_ok=True)
            elif kind == "COPY":
                copy(shlex.split(value), workdir, rooted)
            elif kind == "RUN":
                flags, command = run_flags(value)
                if re.search(r"apt-get|useradd|groupadd", command):
                    continue  # system steps of the base image: checked structurally above
                command = rooted(
                    re.sub(
                        r"\$\{(\w+)\}",
                        lambda m: args_defaults().get(m.group(1), f"${{{m.group(1)}}}"),
                        command,
                    )
                )
                # These run as this host's user (root in CI): never outside the replay folder.
                outside = [
                    path
                    for path in re.findall(r"(?<![\w.$}/-])/[\w.-][\w./*-]*", command)
                    if not path.startswith(str(root))
                ]
                assert outside == [], f"RUN {command} would touch {outside} on this host"
                done = subprocess.run(
                    ["sh", "-c", command],
                    cwd=workdir,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                assert done.returncode == 0, f"RUN {command}\n{done.stdout}\n{done.stderr}"
    return Replay(root, env, workdir)


def copy(words: list[str], workdir: Path, rooted) -> None:
    if words[0].startswith("--from="):
        source, dest = Path(rooted(words[1])), Path(rooted(words[2]))
        assert source.exists(), f"COPY {' '.join(words)}: nothing at {source}"
        if source != dest:
            shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
        return
    *sources, dest = words
    target = workdir / dest if not dest.startswith("/") else Path(rooted(dest))
    for source in sources:
        if source == ".":
            for path in exclude_paths(str(ROOT), list(ignore_patterns())):
                src = ROOT / path
                if src.is_file() and path not in {"Dockerfile", ".dockerignore"}:
                    (target / path).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, target / path)
        else:
            shutil.copy2(ROOT / source, target / Path(source).name)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    yield replay(tmp_path_factory.mktemp("image"))


@pytest.mark.slow
def test_image_steps_install_offline_from_the_lock(image: Replay):
    python = image.root / "opt" / "venv" / "bin" / "python"
    assert python.exists()
    done = image.run(str(python), "-m", "uv", "--version")
    # uv belongs to the build stage only; the runtime environment is the lock, nothing else.
    assert done.returncode != 0
    freeze = subprocess.run(
        [
            shutil.which("uv", path=image.env["PATH"]) or "uv",
            "pip",
            "freeze",
            "--python",
            str(python),
        ],
        capture_output=True,
        text=True,
        env=image.env,
        check=True,
    ).stdout
    locked = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    installed = {line.split("==")[0].lower().replace("_", "-") for line in freeze.split()}
    assert installed == locked


@pytest.mark.slow
def test_image_runs_its_commands_from_the_code_dir(image: Replay):
    assert str(image.workdir).endswith(setup_prefect.IMAGE_CODE_DIR)
    assert (image.workdir / "prefect.yaml").is_file() and not (image.workdir / "tests").exists()
    # The default command, and the one a cloud-run-v2 work pool gives its jobs.
    cli = image.run(*json_command(stage("runtime").values("CMD")[-1]))
    assert cli.returncode == 0 and "run" in cli.stdout, cli.stderr
    from prefect_gcp.workers.cloud_run_v2 import CloudRunWorkerJobV2Configuration

    job_command = CloudRunWorkerJobV2Configuration._base_flow_run_command().split()
    assert job_command[0] == "prefect" and shutil.which("prefect", path=image.env["PATH"]) == str(
        image.root / "opt" / "venv" / "bin" / "prefect"
    )
    done = image.run(*job_command, "--help")
    assert done.returncode == 0, done.stderr
    imported = image.run(
        "python", "-c", "import flows.pipeline, flows.forecast.flow, lightgbm, dbt.cli.main"
    )
    assert imported.returncode == 0, imported.stderr
    # Byte-compiled at build time (the image's user cannot write next to the code).
    assert list((image.workdir / "flows").glob("__pycache__/*.pyc"))


@pytest.mark.slow
def test_image_can_serve_the_dashboard(image: Replay):
    app = image.workdir / "dashboard" / "app.py"
    if not (ROOT / "dashboard" / "app.py").exists():
        pytest.skip("no dashboard/app.py in this checkout")
    assert app.is_file()
    done = image.run("streamlit", "--version")
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_every_native_library_is_in_the_image(image: Replay):
    site = next((image.root / "opt" / "venv" / "lib").glob("python3*/site-packages"))
    objects = [p for p in site.rglob("*.so*") if p.is_file() and not p.is_symlink()]
    readelf = subprocess.run(
        ["readelf", "-d", *map(str, objects)], capture_output=True, text=True
    ).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf))
    bundled = {p.name for p in site.rglob("*.so*")}
    from_apt: dict[str, set[str]] = {}
    for package in apt_packages(stage("runtime")):
        listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        assert listed.returncode == 0, f"dpkg -L {package}: install it on this host to compare"
        from_apt[package] = {Path(p).name for p in listed.stdout.split() if ".so" in p}
    missing = needed - bundled - BASE_IMAGE_LIBS - set().union(*from_apt.values())
    assert missing == set(), f"native libraries the image lacks: {sorted(missing)}"
    # Each apt package is there for a library the environment needs (libgomp1: LightGBM).
    for package, provided in from_apt.items():
        assert provided & needed, f"{package} provides nothing the environment loads"


def json_command(value: str) -> list[str]:
    return json.loads(value)
