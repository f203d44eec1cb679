"""The registry in the lake: versions, champion pointer, decisions, and unusable models."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from flows.errors import RegistryError
from flows.forecast.features import (
    FEATURE_SET_VERSION,
    FeatureConfig,
    attach_target,
    build_features,
    feature_names,
)
from flows.forecast.model import train_model
from flows.forecast.registry import Decision, ModelMetadata, Registry, data_fingerprint, promotion
from flows.lake import LocalLake


@pytest.fixture(scope="module")
def fitted(consumption, temps, model_cfg_module):
    frame = build_features(
        pd.date_range("2020-02-01", "2020-04-01"), consumption, temps, FeatureConfig()
    )
    frame["actual"] = attach_target(frame, consumption)
    frame = frame.dropna()
    names = feature_names(frame.drop(columns=["actual"]))
    return train_model(frame, frame["actual"], names, model_cfg_module), frame, names


@pytest.fixture(scope="module")
def model_cfg_module():
    from flows.forecast.model import ModelConfig

    return ModelConfig(num_boost_round=20, num_leaves=7)


def _meta(version: str, names: list[str], feature_set: int = FEATURE_SET_VERSION) -> ModelMetadata:
    return ModelMetadata(
        version=version,
        created_at="2020-04-02T00:00:00+00:00",
        feature_set_version=feature_set,
        features=names,
        quantiles=[0.1, 0.5, 0.9],
        training_window={"first_issue_date": "2020-02-01", "last_target_date": "2020-04-01"},
        training_rows=100,
        data_fingerprint="abc",
        params={},
        temperatures="observed",
        metrics={"holdout_mape": 2.0},
        band_scale=[1.3, 1.6],
    )


def _promote(registry: Registry, version: str) -> None:
    registry.decide(Decision(version, None, True, "first", 2.0, None, {}, "rule"))


def test_save_load_roundtrip_and_champion(tmp_path, fitted) -> None:
    model, frame, names = fitted
    registry = Registry(LocalLake(tmp_path / "lake"))
    assert registry.champion() is None
    registry.save(model, _meta("v1", names))
    _promote(registry, "v1")
    assert registry.champion() == "v1"
    loaded, meta = registry.load("v1")
    assert meta.features == names and set(meta.files) == set(model.boosters)
    pd.testing.assert_frame_equal(loaded.predict(frame.head(48)), model.predict(frame.head(48)))
    keys = registry.lake.list("models/consumption/")
    assert "models/consumption/v1/metadata.json" in keys
    assert "models/consumption/v1/model_gbm_weather.txt" in keys
    assert "models/consumption/champion.json" in keys
    assert len(registry.decisions()) == 1


def test_a_corrupt_model_file_is_a_clear_error_and_the_champion_is_kept(tmp_path, fitted) -> None:
    model, _, names = fitted
    registry = Registry(LocalLake(tmp_path / "lake"))
    registry.save(model, _meta("v1", names))
    _promote(registry, "v1")
    key = "models/consumption/v1/model_gbm_lags.txt"
    registry.lake.write_bytes(key, registry.lake.read_bytes(key)[:500])
    with pytest.raises(RegistryError, match="v1/model_gbm_lags.txt is corrupt"):
        registry.load("v1")
    assert registry.champion() == "v1"
    # Corrupt beyond its checksum too: LightGBM's own refusal is reported the same way.
    meta = json.loads(registry.lake.read_bytes("models/consumption/v1/metadata.json"))
    import hashlib

    meta["files"]["gbm_lags"] = hashlib.md5(registry.lake.read_bytes(key)).hexdigest()
    registry.lake.write_bytes("models/consumption/v1/metadata.json", json.dumps(meta).encode())
    with pytest.raises(RegistryError, match="gbm_lags"):
        registry.load("v1")


def test_a_model_of_an_older_feature_set_is_refused(tmp_path, fitted) -> None:
    model, _, names = fitted
    registry = Registry(LocalLake(tmp_path / "lake"))
    registry.save(model, _meta("v0", names, feature_set=0))
    _promote(registry, "v0")
    with pytest.raises(RegistryError, match="feature set 0.*run `train`"):
        registry.load("v0")
    assert registry.champion() == "v0"


def test_missing_metadata_is_named(tmp_path) -> None:
    registry = Registry(LocalLake(tmp_path / "lake"))
    with pytest.raises(RegistryError, match="v9/metadata.json is missing"):
        registry.load("v9")


def test_promotion_rule() -> None:
    assert promotion(2.0, None, 0.0)[0] is True
    assert promotion(2.0, 2.0, 0.0)[0] is True  # not worse: promoted
    assert promotion(2.01, 2.0, 0.0)[0] is False
    assert promotion(2.03, 2.0, 0.02)[0] is True
    assert promotion(float("nan"), 2.0, 0.0)[0] is False


def test_fingerprint_follows_content(fitted) -> None:
    _, frame, _ = fitted
    assert data_fingerprint(frame) == data_fingerprint(frame.copy())
    changed = frame.copy()
    changed.iloc[0, -1] += 1
    assert data_fingerprint(changed) != data_fingerprint(frame)


# --- decisions published for the warehouse ------------------------------------------------


def _decision(version: str, champion: str | None, promoted: bool, score: float, at: str):
    return Decision(version, champion, promoted, f"why {version}", score, 2.0, {}, "rule", at)


def test_every_decision_is_published_as_parquet_even_those_logged_before(tmp_path) -> None:
    from flows.runlog import PROMOTIONS

    lake = LocalLake(tmp_path / "lake")
    # A registry that did not publish yet (as before this existed) logs the first decision.
    Registry(lake).decide(_decision("v1", None, True, 2.5, "2025-03-01T10:00:00+00:00"))
    registry = Registry(lake, published="raw/pipeline/model_promotions")
    registry.decide(_decision("v2", "v1", False, 3.1, "2025-03-08T10:00:00+00:00"))
    registry.decide(_decision("v3", "v1", False, float("nan"), "2025-03-15T10:00:00+00:00"))
    keys = lake.list("raw/pipeline/model_promotions/")
    assert keys == [
        "raw/pipeline/model_promotions/date=2025-03-01/20250301T100000+0000_v1.parquet",
        "raw/pipeline/model_promotions/date=2025-03-08/20250308T100000+0000_v2.parquet",
        "raw/pipeline/model_promotions/date=2025-03-15/20250315T100000+0000_v3.parquet",
    ]
    rows = pd.concat([lake.read_parquet(k).to_pandas() for k in keys], ignore_index=True)
    assert list(rows.columns) == list(PROMOTIONS.columns)
    assert rows["decision"].tolist() == ["promote", "keep", "refuse"]
    assert rows["champion_before"].tolist()[1:] == ["v1", "v1"]
    assert rows["challenger_mape"].iloc[1] == 3.1 and rows["champion_mape"].iloc[1] == 2.0
    assert registry.publish() == []  # nothing left to publish
    assert registry.champion() == "v1" and len(registry.decisions()) == 3


def test_published_decisions_build_the_model_promotions_mart(settings) -> None:
    from flows.backends import open_warehouse
    from flows.runlog import HEALTH_MODELS, lake_sources
    from flows.staging import load_changed
    from flows.transform import run_dbt_build

    lake = LocalLake(settings.lake_url)
    registry = Registry(lake, published=settings.model_promotions_prefix)
    registry.decide(_decision("v1", None, True, 2.5, "2025-03-01T10:00:00+00:00"))
    registry.decide(_decision("v2", "v1", True, 2.2, "2025-03-08T10:00:00+00:00"))
    registry.decide(_decision("v3", "v2", False, 2.9, "2025-03-15T10:00:00+00:00"))
    wh = open_warehouse(settings)
    try:
        for source in lake_sources(settings):
            load_changed(lake, wh, settings.staging_dataset, source)
    finally:
        wh.close()
    run_dbt_build(settings, select=HEALTH_MODELS)
    wh = open_warehouse(settings)
    try:
        mart = wh.query(
            "select model_version, decision, is_champion, champion_before, mape_change_points"
            " from production.model_promotions order by decided_at"
        )
        runs = wh.query("select count(*) n from production.pipeline_runs")["n"].iloc[0]
    finally:
        wh.close()
    assert mart["model_version"].tolist() == ["v1", "v2", "v3"]
    assert mart["decision"].tolist() == ["promote", "promote", "keep"]
    # The champion is the latest promoted, as the registry's pointer says.
    assert mart["is_champion"].tolist() == [False, True, False]
    assert registry.champion() == "v2"
    assert mart["mape_change_points"].round(6).tolist()[1:] == [0.2, 0.9]
    assert runs == 0  # no run recorded yet: the mart builds empty
