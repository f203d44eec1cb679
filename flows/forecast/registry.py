"""The model registry in the lake: versions, the champion pointer and every promotion decision.

    models/consumption/<version>/model_p10.txt, model_p50.txt, model_p90.txt, metadata.json
    models/consumption/champion.json
    models/consumption/decisions/<timestamp>_<version>.json

A version is written completely (boosters first, metadata last, each object atomic) before the
champion pointer may name it; the pointer is only rewritten by a promotion.

The decision JSON is what the forecast trusts. Each decision is also published as one Parquet
row under the `published` prefix (flows/runlog.py: `<prefix>/date=<day>/<timestamp>_<version>
.parquet`), which the staging load and the `model_promotions` mart read; a decision not yet
published (one taken before publishing existed) is published by the next `decide`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from flows.errors import LakeError, ModelError, RegistryError
from flows.forecast.features import FEATURE_SET_VERSION
from flows.forecast.model import ConsumptionModel, model_from_strings
from flows.lake import Lake
from flows.runlog import PROMOTIONS, partition_key


@dataclass
class ModelMetadata:
    """What a version records about itself."""

    version: str
    created_at: str
    feature_set_version: int
    features: list[str]
    quantiles: list[float]
    training_window: dict[str, str]  # first/last issue day and last target hour used
    training_rows: int
    data_fingerprint: str
    params: dict
    temperatures: str  # "observed" or "archived_forecasts"
    metrics: dict = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # booster name -> md5 of its file
    band_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])  # unused: bands are online


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A stable hash of a training frame's content (the same data gives the same print)."""
    hashed = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


def new_version(as_of: str, fingerprint: str) -> str:
    """A sortable version name: training day, creation time and data print."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{as_of.replace('-', '')}-{stamp}-{fingerprint[:8]}"


class Registry:
    """Versions and the champion pointer under one lake prefix."""

    def __init__(
        self, lake: Lake, prefix: str = "models/consumption", published: str | None = None
    ) -> None:
        self.lake = lake
        self.prefix = prefix.rstrip("/")
        # Where decisions are published as Parquet for the warehouse; None publishes nothing.
        self.published = published.strip("/") if published else None

    def _key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts])

    # --- versions ------------------------------------------------------------------------
    def save(self, model: ConsumptionModel, meta: ModelMetadata) -> None:
        """Write a version: its boosters, then its metadata (which lists their checksums)."""
        for name, booster in sorted(model.boosters.items()):
            text = booster.model_to_string().encode()
            self.lake.write_bytes(self._key(meta.version, f"model_{name}.txt"), text)
            meta.files[name] = hashlib.md5(text).hexdigest()
        body = json.dumps(asdict(meta), indent=2, sort_keys=True, default=str)
        self.lake.write_bytes(self._key(meta.version, "metadata.json"), body.encode())

    def metadata(self, version: str) -> ModelMetadata:
        """A version's metadata, or a RegistryError naming the object."""
        key = self._key(version, "metadata.json")
        try:
            body = json.loads(self.lake.read_bytes(key))
            return ModelMetadata(**body)
        except (LakeError, FileNotFoundError) as exc:
            raise RegistryError(f"model {version}: {key} is missing") from exc
        except (ValueError, TypeError) as exc:
            raise RegistryError(f"model {version}: {key} is unreadable: {exc}") from exc

    def load(self, version: str) -> tuple[ConsumptionModel, ModelMetadata]:
        """A version's model, checked: files intact, feature set current."""
        meta = self.metadata(version)
        if meta.feature_set_version != FEATURE_SET_VERSION:
            raise RegistryError(
                f"model {version} was trained on feature set {meta.feature_set_version};"
                f" this code builds feature set {FEATURE_SET_VERSION}: run `train`"
            )
        texts = {}
        for name, md5 in meta.files.items():
            key = self._key(version, f"model_{name}.txt")
            try:
                data = self.lake.read_bytes(key)
            except (LakeError, FileNotFoundError) as exc:
                raise RegistryError(f"model {version}: {key} is missing") from exc
            if hashlib.md5(data).hexdigest() != md5:
                raise RegistryError(f"model {version}: {key} is corrupt (checksum mismatch)")
            texts[name] = data.decode(errors="replace")
        try:
            model = model_from_strings(meta.features, texts)
        except ModelError as exc:
            raise RegistryError(f"model {version}: {exc}") from exc
        return model, meta

    # --- champion ------------------------------------------------------------------------
    def champion(self) -> str | None:
        """The champion's version, or None when no model was ever promoted."""
        key = self._key("champion.json")
        if not self.lake.exists(key):
            return None
        try:
            return json.loads(self.lake.read_bytes(key))["version"]
        except (ValueError, KeyError) as exc:
            raise RegistryError(f"{key} is unreadable: {exc}") from exc

    def decide(self, decision: Decision) -> None:
        """Log a decision and, when it promotes, move the champion pointer."""
        body = json.dumps(asdict(decision), indent=2, sort_keys=True, default=str)
        self.lake.write_bytes(
            self._key("decisions", f"{_name(asdict(decision))}.json"), body.encode()
        )
        if decision.promoted:
            pointer = {"version": decision.challenger, "since": decision.decided_at}
            self.lake.write_bytes(self._key("champion.json"), json.dumps(pointer).encode())
        self.publish()

    def decisions(self) -> list[dict]:
        """Every decision ever logged, oldest first."""
        keys = self.lake.list(self._key("decisions") + "/")
        return [json.loads(self.lake.read_bytes(k)) for k in keys if k.endswith(".json")]

    def publish(self) -> list[str]:
        """Publish every logged decision that has no Parquet row yet; returns the keys written."""
        if self.published is None:
            return []
        done = {k.rsplit("/", 1)[-1] for k in self.lake.list(self.published + "/")}
        written = []
        for body in self.decisions():
            day = datetime.fromisoformat(body["decided_at"]).astimezone(UTC).date()
            key = partition_key(self.published, day, _name(body))
            if key.rsplit("/", 1)[-1] not in done:
                self.lake.write_parquet(key, decision_row(body))
                written.append(key)
        return written


def _name(decision: dict) -> str:
    """`<decided_at without separators>_<challenger>`: the decision's JSON and Parquet name."""
    stamp = str(decision["decided_at"]).replace(":", "").replace("-", "")
    return f"{stamp}_{decision['challenger']}"


def decision_kind(decision: dict) -> str:
    """promote, keep (the champion scored better) or refuse (the challenger had no score)."""
    if decision["promoted"]:
        return "promote"
    score = decision.get("challenger_mape")
    if score is None or math.isnan(float(score)):
        return "refuse"
    return "keep"


def decision_row(decision: dict) -> pd.DataFrame:
    """A logged decision as its published row (the staging table's columns)."""
    decided = datetime.fromisoformat(decision["decided_at"]).astimezone(UTC)
    window = decision.get("window") or {}
    row = {
        "day": decided.date(),
        "version": decision["challenger"],
        "decided_at": decided,
        "decision": decision_kind(decision),
        "promoted": bool(decision["promoted"]),
        "champion_before": decision.get("champion"),
        "challenger_mape": decision.get("challenger_mape"),
        "champion_mape": decision.get("champion_mape"),
        "holdout_start": window.get("holdout_start"),
        "holdout_end": window.get("holdout_end"),
        "rule": decision.get("rule", ""),
        "reason": decision.get("reason", ""),
        "recorded_at": datetime.now(UTC),
    }
    return PROMOTIONS.conform(pd.DataFrame([row]))


@dataclass
class Decision:
    """A champion/challenger comparison and its outcome."""

    challenger: str
    champion: str | None
    promoted: bool
    reason: str
    challenger_mape: float | None
    champion_mape: float | None
    window: dict[str, str]
    rule: str
    decided_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def promotion(
    challenger_mape: float,
    champion_mape: float | None,
    tolerance: float,
) -> tuple[bool, str]:
    """The rule: promote when the challenger is not worse than the champion (within tolerance)."""
    if champion_mape is None or math.isnan(champion_mape):
        return True, "no usable champion score"
    if math.isnan(challenger_mape):
        return False, "challenger could not be scored"
    limit = champion_mape * (1 + tolerance)
    if challenger_mape <= limit:
        return True, f"challenger MAPE {challenger_mape:.3f} <= {limit:.3f}"
    return False, f"challenger MAPE {challenger_mape:.3f} > {limit:.3f}"
