"""Weather points: city list, bilinear weights on real grid layouts, regional and national means."""

from __future__ import annotations

import numpy as np
import pytest

from flows.errors import GribError
from flows.meteofrance.grib import Grid
from flows.meteofrance.points import (
    AREA_CODES,
    CITIES,
    area_means,
    bilinear,
    city_region_matrix,
    gather,
    point_weights,
    region_weights,
)
from flows.regions import NATIONAL_CODE, REGIONS

ARPEGE_01 = Grid(741, 521, 72.0, -32.0, 20.0, 42.0, 0.1, 0.1)
AROME_0025 = Grid(1121, 717, 55.4, -12.0, 37.5, 16.0, 0.025, 0.025)
GLOBAL_3 = Grid(120, 61, 90.0, 0.0, -90.0, -3.0, 3.0, 3.0)
LATS = np.array([c.lat for c in CITIES])
LONS = np.array([c.lon for c in CITIES])


def grid_latlon(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    lats = grid.lat_first - grid.dj * np.arange(grid.nj)
    lons = grid.lon_first + grid.di * np.arange(grid.ni)  # may exceed 180: kept monotonic
    lat2, lon2 = np.meshgrid(lats, lons, indexing="ij")
    return lat2.ravel(), lon2.ravel()


def test_every_region_has_a_city_and_weights_sum_to_one() -> None:
    assert {c.region for c in CITIES} == {r.code for r in REGIONS}
    assert len(CITIES) >= 30
    assert np.allclose(city_region_matrix().sum(axis=1), 1.0)
    assert region_weights().sum() == pytest.approx(1.0)
    assert AREA_CODES[-1] == NATIONAL_CODE


@pytest.mark.parametrize("grid", [ARPEGE_01, AROME_0025], ids=["arpege01", "arome0025"])
def test_bilinear_is_exact_on_a_linear_field(grid: Grid) -> None:
    lat, lon = grid_latlon(grid)
    values = 10.0 + 0.5 * lat - 0.25 * lon
    weights = point_weights(grid)
    got = bilinear(gather(values, weights), weights)
    assert np.allclose(got, 10.0 + 0.5 * LATS - 0.25 * LONS, atol=1e-9)
    assert np.allclose(weights.weight.sum(axis=1), 1.0)


def test_small_grid_names_the_cities_outside() -> None:
    grid = Grid(3, 3, 49.0, 2.0, 48.0, 3.0, 0.5, 0.5)  # around Paris only
    with pytest.raises(GribError, match="Marseille"):
        point_weights(grid)


def test_global_grid_stored_0_360_wraps_at_greenwich() -> None:
    # Cities west of Greenwich sit between the last column (357°) and the first (0°/360°).
    weights = point_weights(GLOBAL_3)
    lat, lon = grid_latlon(GLOBAL_3)
    values = np.where(lon == 0.0, 360.0, lon)  # continuous across the wrap from 357 to 360
    got = bilinear(gather(values, weights), weights)
    west = LONS < 0
    assert west.any()
    assert np.allclose(got[west], LONS[west] + 360.0)


def test_grid_missing_the_points_is_a_clear_error() -> None:
    north = Grid(100, 50, 72.0, -10.0, 67.1, -0.1, 0.1, 0.1)
    with pytest.raises(GribError, match="does not cover the weather points: Paris, Marseille"):
        point_weights(north)


def test_missing_neighbours_are_left_out() -> None:
    weights = point_weights(ARPEGE_01)
    near = np.full((len(CITIES), 4), 5.0)
    near[0, 0] = np.nan  # one neighbour of Paris masked: the others carry the value
    near[1, :] = np.nan  # all of Marseille's neighbours masked
    got = bilinear(near, weights)
    assert got[0] == pytest.approx(5.0)
    assert np.isnan(got[1])
    assert np.allclose(np.delete(got, 1), 5.0)


def test_regional_and_national_means_by_population() -> None:
    values = np.array([c.lon for c in CITIES])
    means = area_means(values)
    pop = np.array([c.population for c in CITIES])
    for k, region in enumerate(REGIONS):
        mine = np.array([c.region == region.code for c in CITIES])
        assert means[k] == pytest.approx((pop[mine] * values[mine]).sum() / pop[mine].sum())
    total = sum(r.population for r in REGIONS)
    national = sum(r.population / total * means[k] for k, r in enumerate(REGIONS))
    assert means[-1] == pytest.approx(national)


def test_region_without_values_is_nan_and_national_renormalises() -> None:
    values = np.ones(len(CITIES))
    corse = np.array([c.region == 94 for c in CITIES])
    values[corse] = np.nan
    means = area_means(values)
    assert np.isnan(means[AREA_CODES.index(94)])
    assert means[-1] == pytest.approx(1.0)


def test_means_broadcast_over_steps() -> None:
    values = np.vstack([np.zeros(len(CITIES)), np.ones(len(CITIES))])
    assert area_means(values).shape == (2, len(AREA_CODES))
