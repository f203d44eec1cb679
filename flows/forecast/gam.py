"""A ridge GAM of log consumption: the panel's one expert that is not a tree.

Per local hour, piecewise-linear heating and cooling curves, linear terms for the other
temperatures, a seasonal Fourier series, dusk and dawn, and the calendar flags, on top of
hour x day-type intercepts; fitted in closed form (ridge). Its errors are unlike the trees'
(it extrapolates a cold wave along its heating slope and reads a holiday as the sum of its
flags), which is what the online aggregation gains from.
"""

from __future__ import annotations

import json

import numpy as np

from flows.errors import ModelError

HEATING_KNOTS_C = (-3.0, 0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0)  # of the smoothed temperature
COOLING_KNOTS_C = (18.0, 21.0, 24.0, 27.0)  # of the day's maximum
LINEAR_TERMS = (
    "t_smooth_fast",
    "t_smooth_slow",
    "t_hour",
    "t_mean_t1",
    "t_smooth_delta_d1",
    "t_range",
)
FLAGS = (
    "is_holiday",
    "is_bridge",
    "is_christmas",
    "holiday_before",
    "holiday_after",
    "school_holiday_share",
    "is_dst_day",
)
SEASON_HARMONICS = 3
CHUNK_ROWS = 8192
GAM_FEATURES = (
    "hour_local",
    "day_type",
    "doy_sin",
    "doy_cos",
    "t_smooth",
    "t_max",
    *LINEAR_TERMS,
    "after_sunset",
    "after_sunrise",
    *FLAGS,
)
KIND = "ridge_gam"
GAM_EXPERT = "gam_ridge"  # its name in the panel


def design(x: np.ndarray) -> np.ndarray:
    """The GAM's basis for rows of GAM_FEATURES (in that order)."""
    col = {name: x[:, i] for i, name in enumerate(GAM_FEATURES)}
    hour = col["hour_local"].astype(int)
    per_hour = np.eye(24)[hour]
    blocks = [np.eye(24 * 7)[hour * 7 + col["day_type"].astype(int)]]

    def by_hour(values: np.ndarray) -> None:
        blocks.append(per_hour * values[:, None])

    for knot in HEATING_KNOTS_C:
        by_hour(np.maximum(knot - col["t_smooth"], 0.0) / 5)
    for knot in COOLING_KNOTS_C:
        by_hour(np.maximum(col["t_max"] - knot, 0.0) / 5)
    for name in LINEAR_TERMS:
        by_hour(col[name] / 10)
    angle = np.arctan2(col["doy_sin"], col["doy_cos"])
    for k in range(1, SEASON_HARMONICS + 1):
        by_hour(np.sin(k * angle))
        by_hour(np.cos(k * angle))
    for name in ("after_sunset", "after_sunrise"):
        by_hour(np.clip(col[name], -3, 3) / 3)
    for name in FLAGS:
        by_hour(col[name])
    return np.hstack(blocks)


def basis_width() -> int:
    """Columns of the GAM's basis."""
    return design(np.zeros((1, len(GAM_FEATURES)))).shape[1]


class RidgeGam:
    """A fitted GAM with the part of LightGBM's Booster interface the panel uses."""

    def __init__(self, coef: np.ndarray, intercept: float) -> None:
        self.coef = np.asarray(coef, dtype=float)
        self.intercept = float(intercept)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, penalty: float) -> RidgeGam:
        """Ridge on log(y) over complete rows of GAM_FEATURES."""
        log_y = np.log(y)
        mean = float(log_y.mean())
        width = basis_width()
        gram, moment = penalty * np.eye(width), np.zeros(width)
        # The basis is ~1,000 columns wide: a chunk at a time keeps memory flat on a worker.
        for lo in range(0, len(x), CHUNK_ROWS):
            basis = design(x[lo : lo + CHUNK_ROWS])
            gram += basis.T @ basis
            moment += basis.T @ (log_y[lo : lo + CHUNK_ROWS] - mean)
        return cls(np.linalg.solve(gram, moment), mean)

    def feature_name(self) -> list[str]:
        """The columns `predict` reads, in order."""
        return list(GAM_FEATURES)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Consumption (MW) for rows of GAM_FEATURES."""
        parts = [design(x[lo : lo + CHUNK_ROWS]) @ self.coef for lo in range(0, len(x), CHUNK_ROWS)]
        return np.exp(np.concatenate(parts or [np.zeros(0)]) + self.intercept)

    def model_to_string(self) -> str:
        """A JSON dump `from_string` reads back."""
        body = {"kind": KIND, "features": list(GAM_FEATURES), "intercept": self.intercept}
        return json.dumps(body | {"coef": self.coef.tolist()})

    @classmethod
    def from_string(cls, text: str) -> RidgeGam:
        """A GAM from `model_to_string`'s dump; ModelError when it is not one."""
        try:
            body = json.loads(text)
            gam = cls(np.array(body["coef"], dtype=float), body["intercept"])
            ok = body.get("kind") == KIND and body.get("features") == list(GAM_FEATURES)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"not a ridge GAM dump: {exc}") from exc
        if not ok or gam.coef.shape != (basis_width(),):
            raise ModelError("not a ridge GAM dump of this version (features or basis differ)")
        return gam


def is_gam_dump(text: str) -> bool:
    """Does a model file hold a GAM (JSON) rather than a LightGBM booster?"""
    return text.lstrip().startswith("{")
