"""The dbt project's layout rules (dbt/README.md, the jaffle-shop way), read from its files.

Layers read only themselves or earlier layers, staging models end with their rename CTE, no
CTE merely re-selects another, every model has a described entry in a .yml beside it, and
every `var()` a model or macro uses is declared in dbt_project.yml. No dbt run: these are
checks of the source, so they take milliseconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from flows.settings import PROJECT_ROOT

DBT = PROJECT_ROOT / "dbt"
MODELS = DBT / "models"
REF = re.compile(r"\bref\(\s*['\"](\w+)['\"]\s*\)")
VAR = re.compile(r"\bvar\(\s*['\"](\w+)['\"]")
# A CTE whose whole body is `select * from <another CTE>` (import CTEs read {{ ref() }}).
RESELECT = re.compile(r"\b(\w+) as \(\s*select \* from (\w+)\s*\)", re.I)
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)


def models(layer: str) -> dict[str, Path]:
    """Model name -> SQL file of one layer."""
    return {p.stem: p for p in (MODELS / layer).rglob("*.sql")}


def layer_of(name: str) -> str:
    for layer in ("staging", "intermediate", "marts"):
        if name in {p.stem for p in (MODELS / layer).rglob("*.sql")}:
            return layer
    return "seed"


def sql(path: Path) -> str:
    """The model's SQL without its Jinja comments."""
    return JINJA_COMMENT.sub("", path.read_text())


def test_models_read_only_their_layer_or_earlier_ones() -> None:
    allowed = {
        "staging": {"seed"},
        "intermediate": {"seed", "staging", "intermediate"},
        "marts": {"seed", "staging", "intermediate", "marts"},
    }
    checked = 0
    for layer, found in allowed.items():
        for name, path in models(layer).items():
            for parent in REF.findall(sql(path)):
                assert layer_of(parent) in found, f"{name} ({layer}) reads {parent}"
                checked += 1
    assert checked > 20


def test_staging_models_end_with_their_rename_cte() -> None:
    staged = models("staging")
    assert len(staged) >= 6
    for name, path in staged.items():
        text = sql(path)
        assert text.rstrip().endswith("select * from renamed"), name
        assert "final as (" not in text, name


@pytest.mark.parametrize("layer", ["staging", "intermediate", "marts"])
def test_no_cte_only_reselects_another(layer: str) -> None:
    for name, path in models(layer).items():
        assert not RESELECT.findall(sql(path)), f"{name}: {RESELECT.findall(sql(path))}"


def data_tests(model: dict) -> int:
    """How many data tests a .yml entry declares, on the model and on its columns."""
    columns = model.get("columns") or []
    return len(model.get("data_tests") or []) + sum(len(c.get("data_tests") or []) for c in columns)


def test_every_model_is_described_and_tested_in_a_yml_beside_it() -> None:
    for layer in ("staging", "intermediate", "marts"):
        for name, path in models(layer).items():
            entries = {}
            for spec in path.parent.glob("*.yml"):
                for model in yaml.safe_load(spec.read_text()).get("models", []):
                    entries[model["name"]] = model
            entry = entries.get(name)
            assert entry, f"{name} has no entry in a .yml of {path.parent}"
            assert (entry.get("description") or "").strip(), f"{name} has no description"
            assert data_tests(entry) > 0, f"{name} has no data test"


def test_every_var_used_is_declared_in_dbt_project() -> None:
    declared = set(yaml.safe_load((DBT / "dbt_project.yml").read_text())["vars"])
    used: dict[str, Path] = {}
    for folder in ("models", "macros"):
        for path in (DBT / folder).rglob("*"):
            if path.suffix in (".sql", ".yml"):
                used |= {name: path for name in VAR.findall(path.read_text())}
    assert {"local_timezone", "gas_carry_forward_days"} <= set(used)
    undeclared = {name: str(path) for name, path in used.items() if name not in declared}
    assert not undeclared, f"declare these vars in dbt/dbt_project.yml: {undeclared}"


def test_unit_tests_target_existing_models_and_sit_beside_them() -> None:
    specs = list(MODELS.rglob("_*__unit_tests.yml"))
    assert specs
    for spec in specs:
        for unit in yaml.safe_load(spec.read_text())["unit_tests"]:
            assert unit["description"].strip(), unit["name"]
            assert (spec.parent / f"{unit['model']}.sql").is_file(), unit["name"]
