"""Settings: environment variables, defaults, and the README's table kept in sync."""

from __future__ import annotations

import re
from datetime import date

import pytest
from pydantic import ValidationError

from flows.backends import dbt_target
from flows.settings import PROJECT_ROOT, Settings, settings_table


def test_every_field_is_described() -> None:
    missing = [n for n, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGGREGAT_PROFILE", "gcp")
    monkeypatch.setenv("AGGREGAT_LAKE_URL", "gs://bucket/prefix")
    monkeypatch.setenv("AGGREGAT_HISTORY_START", "2020-02-01")
    monkeypatch.setenv("AGGREGAT_ODRE_API_KEY", "secret")
    s = Settings()
    assert (s.profile, s.lake_url, s.history_start) == (
        "gcp",
        "gs://bucket/prefix",
        date(2020, 2, 1),
    )
    assert "secret" not in repr(s)
    assert dbt_target(s) == "dev"


def test_dotenv_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGGREGAT_DUCKDB_PATH", raising=False)
    (tmp_path / ".env").write_text("AGGREGAT_DUCKDB_PATH=/srv/w.duckdb\n")
    assert str(Settings().duckdb_path) == "/srv/w.duckdb"


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGGREGAT_PROFILE", "aws")
    with pytest.raises(ValidationError, match="profile"):
        Settings()


def test_readme_lists_every_setting() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- settings-table:start -->\n(.*)\n<!-- settings-table:end -->", readme, re.S
    )
    assert block, "README lacks the settings table markers"
    assert block.group(1) == settings_table(), (
        "README settings table is stale: regenerate with "
        "`python -c 'from flows.settings import settings_table; print(settings_table())'`"
    )


# Variables the docs name that are no setting: prefect.yaml's placeholders for `prefect deploy`.
NOT_SETTINGS = {"AGGREGAT_CODE_DIR"}


def test_the_docs_name_only_settings_that_exist() -> None:
    fields = {f"AGGREGAT_{name.upper()}" for name in Settings.model_fields}
    docs = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    named = {
        (path.name, match.group(0), match.group(1))
        for path in docs
        for match in re.finditer(r"AGGREGAT_[A-Z0-9_]*[A-Z0-9](_\*)?", path.read_text())
    }
    assert len(named) > 20
    unknown = sorted(
        (doc, name)
        for doc, name, wildcard in named
        if name not in fields | NOT_SETTINGS
        and not (wildcard and any(f.startswith(name[:-1]) for f in fields))
    )
    assert unknown == [], "the docs name settings that do not exist (see flows/settings.py)"
