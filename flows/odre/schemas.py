"""The ODRÉ datasets we ingest: their fields, explicit types, windows and staging tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa

from flows.lake import day_segment
from flows.warehouse import ARROW_TYPES, TableSpec

# Production, exchange and forecast fields of eCO2mix, MW unless noted. The later ones are
# strings at the source because they can hold "ND"; we type them all as float64.
ECO2MIX_MEASURES = (
    "consommation",
    "prevision_j1",
    "prevision_j",
    "fioul",
    "charbon",
    "gaz",
    "nucleaire",
    "eolien",
    "solaire",
    "hydraulique",
    "pompage",
    "bioenergies",
    "ech_physiques",
    "taux_co2",
    "ech_comm_angleterre",
    "ech_comm_espagne",
    "ech_comm_italie",
    "ech_comm_suisse",
    "ech_comm_allemagne_belgique",
    "fioul_tac",
    "fioul_cogen",
    "fioul_autres",
    "gaz_tac",
    "gaz_cogen",
    "gaz_ccg",
    "gaz_autres",
    "hydraulique_fil_eau_eclusee",
    "hydraulique_lacs",
    "hydraulique_step_turbinage",
    "bioenergies_dechets",
    "bioenergies_biomasse",
    "bioenergies_biogaz",
    "eolien_terrestre",
    "eolien_offshore",
    "stockage_batterie",
    "destockage_batterie",
)


@dataclass(frozen=True)
class Dataset:
    """One ODRÉ dataset: what to ask for, how to type it, and where it lands."""

    id: str
    time_field: str  # the field the ODSQL window filters on
    time_is_timestamp: bool  # True: a UTC instant; False: a calendar date
    fields: dict[str, str]  # source field -> portable type, as staged
    lookback_setting: str  # the Settings field holding the re-read window
    lookback_unit: str  # "hours" or "days"
    description: str
    key: tuple[str, ...] = ()  # fields identifying one row; duplicates are collapsed
    # The contract: every field is required, except those the source is known to drop,
    # each with the reason; an optional field's absence is a warning in the run summary.
    optional: dict[str, str] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()  # known source fields we do not stage (no warning)
    history_days_setting: str | None = None  # Settings field: history as days before as_of

    @property
    def required(self) -> tuple[str, ...]:
        """The fields whose absence from an answer is an error: all but the optional ones."""
        return tuple(f for f in self.fields if f not in self.optional)

    @property
    def table(self) -> TableSpec:
        """The staging table: the source fields plus the UTC `day` partition and load time."""
        columns = {"day": "date", **self.fields, "ingested_at": "timestamp"}
        return TableSpec(
            name="odre__" + self.id.replace("-", "_"),
            columns=columns,
            partition_by="day",
            cluster_by=(self.time_field,),
            description=self.description,
        )

    def lake_prefix(self) -> str:
        """Where this dataset's raw day partitions live in the lake."""
        return f"raw/odre/{self.id}/"

    def partition_key(self, day: date) -> str:
        """The lake object holding one UTC day of this dataset."""
        return f"{self.lake_prefix()}{day_segment(day)}/part.parquet"

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema of a day partition: the staging columns, in order."""
        return pa.schema([(c, ARROW_TYPES[t]) for c, t in self.table.columns.items()])


_ECO2MIX_FIELDS = {
    "perimetre": "string",
    "nature": "string",
    "date_heure": "timestamp",
    **{name: "float64" for name in ECO2MIX_MEASURES},
}

# Split out of their totals later than the rest: older exports lack them (SOURCES.md).
_ECO2MIX_LATER = {
    name: "added to eCO2mix later than the other fields: older exports lack it"
    for name in ("eolien_terrestre", "eolien_offshore", "stockage_batterie", "destockage_batterie")
}

ECO2MIX_TR = Dataset(
    id="eco2mix-national-tr",
    time_field="date_heure",
    time_is_timestamp=True,
    fields=_ECO2MIX_FIELDS,
    optional=_ECO2MIX_LATER,
    lookback_setting="eco2mix_lookback_hours",
    lookback_unit="hours",
    description="Real-time national electricity, 15-minute rows, refreshed hourly.",
    key=("date_heure",),
    ignored=("date", "heure"),
    history_days_setting="eco2mix_tr_history_days",
)

ECO2MIX_CONS_DEF = Dataset(
    id="eco2mix-national-cons-def",
    time_field="date_heure",
    time_is_timestamp=True,
    fields=_ECO2MIX_FIELDS,
    optional=_ECO2MIX_LATER,
    lookback_setting="consolidated_lookback_days",
    lookback_unit="days",
    description="Consolidated and definitive national electricity history.",
    key=("date_heure",),
    ignored=("date", "heure"),
)

GAS_STORAGE = Dataset(
    id="stock-quotidien-stockages-gaz",
    time_field="date",
    time_is_timestamp=False,
    fields={
        "date": "date",
        "source": "string",
        "pits": "string",
        "stock_fin_de_journee": "float64",
    },
    lookback_setting="gas_lookback_days",
    lookback_unit="days",
    description="End-of-day gas stock per storage group, GWh PCS 0°C.",
    key=("date", "source", "pits"),
)

TEMPERATURE = Dataset(
    id="temperature-quotidienne-regionale",
    time_field="date",
    time_is_timestamp=False,
    fields={
        "date": "date",
        "code_insee_region": "int64",
        "region": "string",
        "id": "string",
        "tmin": "float64",
        "tmax": "float64",
        "tmoy": "float64",
    },
    optional={"id": "the record id is absent from older exports (SOURCES.md)"},
    lookback_setting="temperature_lookback_days",
    lookback_unit="days",
    description="Observed daily min/max/mean temperature per metropolitan region, °C.",
    key=("date", "code_insee_region"),
)

DATASETS: dict[str, Dataset] = {
    d.id: d for d in (ECO2MIX_TR, ECO2MIX_CONS_DEF, GAS_STORAGE, TEMPERATURE)
}


def get_dataset(dataset_id: str) -> Dataset:
    """The dataset of an id, or a clear error listing the known ones."""
    try:
        return DATASETS[dataset_id]
    except KeyError:
        raise KeyError(f"unknown ODRÉ dataset {dataset_id!r}; known: {sorted(DATASETS)}") from None
