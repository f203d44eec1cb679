"""Weather points: the large French cities, and how a grid's values are read at them.

Like the grid operator's reference temperature, forecasts are read at a fixed list of city
points (coordinates and INSEE 2021 municipal populations are public facts), interpolated
bilinearly, averaged per region weighted by city population, and the regions averaged into a
national series weighted by regional population (flows/regions.py). Every region has at least
one city. The interpolation weights depend only on the grid geometry, so they are computed
once per grid and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from flows.errors import GribError
from flows.meteofrance.grib import Grid
from flows.regions import NATIONAL_CODE, NATIONAL_NAME, REGION_BY_CODE, REGIONS, population_weights


@dataclass(frozen=True)
class City:
    name: str
    lat: float
    lon: float
    population: int
    region: int  # code_insee_region


CITIES: tuple[City, ...] = (
    City("Paris", 48.8566, 2.3522, 2_133_111, 11),
    City("Marseille", 43.2965, 5.3698, 873_076, 93),
    City("Lyon", 45.7640, 4.8357, 522_250, 84),
    City("Toulouse", 43.6047, 1.4442, 504_078, 76),
    City("Nice", 43.7102, 7.2620, 348_085, 93),
    City("Nantes", 47.2184, -1.5536, 323_204, 52),
    City("Montpellier", 43.6108, 3.8767, 302_454, 76),
    City("Strasbourg", 48.5734, 7.7521, 291_313, 44),
    City("Bordeaux", 44.8378, -0.5792, 261_804, 75),
    City("Lille", 50.6292, 3.0573, 236_710, 32),
    City("Rennes", 48.1173, -1.6778, 225_081, 53),
    City("Toulon", 43.1242, 5.9280, 180_834, 93),
    City("Reims", 49.2583, 4.0317, 180_318, 44),
    City("Saint-Étienne", 45.4397, 4.3872, 173_089, 84),
    City("Le Havre", 49.4944, 0.1079, 166_462, 28),
    City("Dijon", 47.3220, 5.0415, 159_106, 27),
    City("Grenoble", 45.1885, 5.7245, 156_389, 84),
    City("Angers", 47.4784, -0.5632, 155_850, 52),
    City("Nîmes", 43.8367, 4.3601, 148_561, 76),
    City("Clermont-Ferrand", 45.7772, 3.0870, 147_284, 84),
    City("Aix-en-Provence", 43.5297, 5.4474, 145_133, 93),
    City("Le Mans", 48.0061, 0.1996, 145_004, 52),
    City("Brest", 48.3904, -4.4861, 139_619, 53),
    City("Tours", 47.3941, 0.6848, 136_463, 24),
    City("Amiens", 49.8941, 2.2958, 133_625, 32),
    City("Limoges", 45.8336, 1.2611, 129_754, 75),
    City("Besançon", 47.2378, 6.0241, 119_198, 27),
    City("Perpignan", 42.6887, 2.8948, 119_656, 76),
    City("Metz", 49.1193, 6.1757, 118_489, 44),
    City("Orléans", 47.9030, 1.9093, 116_617, 24),
    City("Rouen", 49.4432, 1.0999, 114_083, 28),
    City("Caen", 49.1829, -0.3707, 108_200, 28),
    City("Ajaccio", 41.9192, 8.7386, 72_647, 94),
    City("Bastia", 42.6977, 9.4509, 48_503, 94),
)

# Output rows: the 13 regions in flows.regions order, then the national series.
AREA_CODES: tuple[int, ...] = tuple(r.code for r in REGIONS) + (NATIONAL_CODE,)
AREA_NAMES: tuple[str, ...] = tuple(r.name for r in REGIONS) + (NATIONAL_NAME,)


def _check_cities() -> None:
    missing = set(REGION_BY_CODE) - {c.region for c in CITIES}
    unknown = {c.region for c in CITIES} - set(REGION_BY_CODE)
    if missing or unknown:
        raise ValueError(f"weather points: regions without a city {missing}, unknown {unknown}")


_check_cities()


def city_region_matrix() -> np.ndarray:
    """(13 regions × cities) weights: each row the cities' population shares in that region."""
    matrix = np.zeros((len(REGIONS), len(CITIES)))
    for j, city in enumerate(CITIES):
        matrix[AREA_CODES.index(city.region), j] = city.population
    return matrix / matrix.sum(axis=1, keepdims=True)


def region_weights() -> np.ndarray:
    """Regional population shares (sum 1), in AREA_CODES order without the national code."""
    shares = population_weights()
    return np.array([shares[r.code] for r in REGIONS])


@dataclass(frozen=True)
class PointWeights:
    """Bilinear interpolation at the cities: 4 flat grid indices and 4 weights per city."""

    index: np.ndarray  # (cities, 4) int64 flat indices into a message's values
    weight: np.ndarray  # (cities, 4) float64, each row sums to 1


@lru_cache(maxsize=16)
def point_weights(grid: Grid) -> PointWeights:
    """Interpolation weights of the cities on a grid; GribError if a city lies outside it."""
    lats = np.array([c.lat for c in CITIES])
    lons = np.array([c.lon for c in CITIES])
    # Fractional grid positions; longitudes measured eastward from the first column, which
    # handles grids stored 0-360 and grids crossing the antimeridian alike.
    x = ((lons - grid.lon_first) % 360.0) / grid.di
    y = (lats - grid.lat_first) / grid.dj
    if not grid.j_scans_positively:
        y = -y
    wraps = grid.is_global_in_lon
    x_max = grid.ni if wraps else grid.ni - 1
    outside = (x < -1e-9) | (x > x_max + 1e-9) | (y < -1e-9) | (y > grid.nj - 1 + 1e-9)
    if outside.any():
        names = ", ".join(c.name for c, out in zip(CITIES, outside, strict=True) if out)
        raise GribError(f"grid {grid} does not cover the weather points: {names} outside")
    i0 = np.minimum(np.floor(x).astype(np.int64), x_max - 1)
    j0 = np.minimum(np.floor(y).astype(np.int64), grid.nj - 2)
    fx, fy = x - i0, y - j0
    i1 = (i0 + 1) % grid.ni if wraps else i0 + 1
    index = np.stack(
        [j0 * grid.ni + i0, j0 * grid.ni + i1, (j0 + 1) * grid.ni + i0, (j0 + 1) * grid.ni + i1],
        axis=1,
    )
    weight = np.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)
    return PointWeights(index=index, weight=weight)


def gather(values: np.ndarray, weights: PointWeights) -> np.ndarray:
    """The 4 grid neighbours of each city: (cities, 4), from one message's flat values."""
    return values[weights.index]


def bilinear(near: np.ndarray, weights: PointWeights) -> np.ndarray:
    """(..., cities, 4) neighbours → (..., cities); NaN neighbours left out, all NaN → NaN."""
    valid = ~np.isnan(near)
    w = np.where(valid, weights.weight, 0.0)
    total = w.sum(axis=-1)
    out = (np.where(valid, near, 0.0) * w).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), np.nan)


def area_means(city_values: np.ndarray) -> np.ndarray:
    """(..., cities) → (..., 14): population-weighted regional means, then the national one.

    Cities without a value are left out of their region; a region without any → NaN, and the
    national mean is taken over the regions that have a value.
    """
    regional = _weighted_nanmean(city_values, city_region_matrix())
    national = _weighted_nanmean(regional, region_weights()[None, :])
    return np.concatenate([regional, national], axis=-1)


def _weighted_nanmean(values: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(values)
    num = np.where(valid, values, 0.0) @ matrix.T
    den = valid.astype(float) @ matrix.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
