"""`python -m flows decode-grib FILE`: what one GRIB2 file holds, decoded as the flow decodes it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import pandas as pd

from flows.errors import GribError
from flows.meteofrance.features import FIELDS, VARIABLES, file_features
from flows.meteofrance.grib import GribInventory, validate_grib


def decode_grib_cli(path: str, step: float | None = None, out: TextIO | None = None) -> int:
    """Print a file's grid, runs, steps, parameters and regional means at one step; 0 if good."""
    out = out or sys.stdout
    file = Path(path)
    if not file.is_file():
        print(f"error: {file}: no such file", file=sys.stderr)
        return 2
    try:
        inventory = validate_grib(file, names=True)
        print_inventory(inventory, out)
        model, grid = model_and_grid(file)
        features = file_features(file, model, grid)
    except GribError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_means(features, step, out)
    return 0


def model_and_grid(file: Path) -> tuple[str, str]:
    """From a publisher's name `model__grid__PKG__GROUP__RUN.grib2`, else unknown."""
    parts = file.name.split("__")
    return (parts[0], parts[1]) if len(parts) >= 3 else ("unknown", "unknown")


def print_inventory(inventory: GribInventory, out: TextIO) -> None:
    """The file's grid, runs, steps and one line per distinct parameter."""
    runs = ", ".join(f"{r:%Y-%m-%dT%H:%MZ}" for r in inventory.run_times)
    steps = ", ".join(f"{s:g}" for s in inventory.steps)
    print(f"file:     {inventory.path} ({len(inventory.messages)} messages)", file=out)
    print(f"grid:     {inventory.grid}", file=out)
    print(f"run(s):   {runs}", file=out)
    print(f"steps:    {steps} (hours)", file=out)
    print("parameters (discipline/category/number level type, level, step type):", file=out)
    for key in inventory.params:
        messages = [m for m in inventory.messages if m.key == key]
        first = messages[0]
        label = "unknown (local table: selected by keys)" if first.is_unknown else first.name
        used = FIELDS.get(key)
        use = f"-> {used}" if used else "(not used)"
        print(
            f"  {str(key):<40} {first.short_name:<9} {label} [{first.units}], "
            f"{first.packing}{', bitmap' if first.bitmap else ''}, {len(messages)} msg {use}",
            file=out,
        )


def print_means(features: pd.DataFrame, step: float | None, out: TextIO) -> None:
    """Regional and national means at one step (the first step with data unless given)."""
    if features.empty:
        print("no field of the weather features in this file", file=out)
        return
    has_data = features[list(VARIABLES)].notna().any(axis=1)
    steps = features.loc[has_data, "step_hours"]
    chosen = step if step is not None else float(steps.min())
    rows = features[features["step_hours"] == chosen]
    if rows.empty:
        print(f"no data at step {chosen:g}h; steps: {sorted(steps.unique())}", file=out)
        return
    valid = rows["valid_time"].iloc[0]
    print(
        f"means at step {chosen:g}h (valid {valid:%Y-%m-%dT%H:%MZ}; "
        "accumulations since the run start):",
        file=out,
    )
    table = rows[["code_insee_region", "region", *VARIABLES]].set_index("code_insee_region")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(2).to_string(na_rep="-"), file=out)
