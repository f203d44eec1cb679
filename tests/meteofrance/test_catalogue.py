"""Products, group files, URLs, lake keys and what each file must hold."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from flows.errors import CatalogueError
from flows.meteofrance.catalogue import (
    MODEL_GRIDS,
    Product,
    api_url,
    bucket_url,
    expected_content,
    expected_grid,
    group_files,
    group_steps,
    lake_key,
    model_runs,
    products_from_settings,
    source_request,
)
from flows.settings import Settings

DAY = date(2026, 5, 11)


def test_default_products_are_arpege_sp1_sp2_and_arome_sp1_at_00(settings: Settings) -> None:
    names = [p.name for p in products_from_settings(settings)]
    assert names == ["arpege/01/SP1/00", "arpege/01/SP2/00", "arome/0025/SP1/00"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("arpege/01/SP1", "expected model/grid/package/run hour"),
        ("arpege/05/SP1/00", "unknown model/grid"),
        ("arpege/01/XX9/00", "unknown package"),
        ("arpege/01/SP1/03", "runs only at 00, 06, 12, 18"),
    ],
)
def test_bad_product_names_are_named_in_the_error(text: str, message: str) -> None:
    with pytest.raises(CatalogueError, match=message) as err:
        Product.parse(text)
    assert text in str(err.value)


def test_more_products_by_configuration(settings: Settings) -> None:
    s = settings.model_copy(
        update={"meteofrance_products": ["arome/0025/SP2/03", "arpege/025/SP1/12"]}
    )
    products = products_from_settings(s)
    assert [(p.model, p.grid, p.package, p.run_hour) for p in products] == [
        ("arome", "0025", "SP2", 3),
        ("arpege", "025", "SP1", 12),
    ]


def test_arpege_groups_cover_102_hours_hourly_then_three_hourly(settings: Settings) -> None:
    files = group_files(settings, Product.parse("arpege/01/SP1/00"), DAY)
    assert [f.group for f in files][0] == "000H012H" and len(files) == 9
    assert files[0].steps == tuple(range(13))
    assert files[4].steps == (51, 54, 57, 60)  # 049H060H: past +48 h only every third hour
    assert files[-1].steps == (99, 102)
    steps = [s for f in files for s in f.steps]
    assert len(steps) == len(set(steps))


def test_arome_groups_are_hourly_and_001_is_one_file_per_hour() -> None:
    assert group_steps(MODEL_GRIDS["arome/0025"], "49H51H") == (49, 50, 51)
    assert MODEL_GRIDS["arome/001"].groups[:2] == ("00H", "01H")
    assert group_steps(MODEL_GRIDS["arome/001"], "51H") == (51,)


def test_horizon_limits_the_groups(settings: Settings) -> None:
    s = settings.model_copy(update={"meteofrance_horizon_hours": 24})
    files = group_files(s, Product.parse("arpege/01/SP1/00"), DAY)
    assert [f.group for f in files] == ["000H012H", "013H024H"]


def test_bucket_url_quotes_the_colons_and_lake_key_keeps_the_name(settings: Settings) -> None:
    f = group_files(settings, Product.parse("arpege/01/SP1/00"), DAY)[0]
    assert f.file_name == "arpege__01__SP1__000H012H__2026-05-11T00:00:00Z.grib2"
    assert bucket_url("https://store.example/pnt/", f) == (
        "https://store.example/pnt/2026-05-11T00%3A00%3A00Z/arpege/01/SP1/"
        "arpege__01__SP1__000H012H__2026-05-11T00%3A00%3A00Z.grib2"
    )
    assert lake_key(f) == (
        "raw/meteofrance/arpege/01/SP1/run=2026-05-11T00Z/"
        "arpege__01__SP1__000H012H__2026-05-11T00:00:00Z.grib2"
    )


def test_api_key_switches_to_the_portail_api_with_the_apikey_header(settings: Settings) -> None:
    f = group_files(settings, Product.parse("arome/0025/SP1/00"), DAY)[1]
    url, headers = source_request(settings, f)
    assert url.startswith(settings.meteofrance_base_url) and headers == {}
    keyed = Settings(**{**settings.model_dump(), "meteofrance_api_key": "secret-key"})
    url, headers = source_request(keyed, f)
    assert headers == {"apikey": "secret-key"}
    assert url == api_url(keyed.meteofrance_api_base_url, f)
    assert "DPPaquetAROME/v1/models/AROME/grids/0.025/packages/SP1/productARO?" in url
    assert "referencetime=2026-05-11T00%3A00%3A00Z&time=07H12H&format=grib2" in url


def test_expected_content_names_run_steps_fields_and_real_grid(settings: Settings) -> None:
    f = group_files(settings, Product.parse("arpege/01/SP1/00"), DAY)[0]
    expected = expected_content(settings, f)
    assert expected.run_time == datetime(2026, 5, 11, tzinfo=UTC)
    assert expected.steps == frozenset(float(h) for h in range(13))
    assert {k.parameterNumber for k in expected.per_step_optional} == {7, 8}  # ssrd, tp
    assert (expected.grid.ni, expected.grid.nj, expected.grid.di) == (741, 521, 0.1)
    sp2 = group_files(settings, Product.parse("arpege/01/SP2/00"), DAY)[0]
    assert expected_content(settings, sp2).params == frozenset()


def test_grid_shape_override_keeps_the_domain(settings: Settings) -> None:
    s = settings.model_copy(update={"meteofrance_grid_shapes": {"arpege/01": "75x53"}})
    grid = expected_grid(s, MODEL_GRIDS["arpege/01"])
    assert (grid.ni, grid.nj, grid.di, grid.dj) == (75, 53, 1.0, 1.0)
    assert (grid.lat_first, grid.lon_first, grid.lat_last, grid.lon_last) == (72, -32, 20, 42)
    glob = expected_grid(settings, MODEL_GRIDS["arpege/025"])
    assert (glob.di, glob.lon_last) == (0.25, -0.25)
    bad = settings.model_copy(update={"meteofrance_grid_shapes": {"arpege/01": "big"}})
    with pytest.raises(CatalogueError, match="arpege/01.*'big'"):
        expected_grid(bad, MODEL_GRIDS["arpege/01"])


def test_model_runs_group_packages_and_pick_feature_packages(settings: Settings) -> None:
    runs = model_runs(products_from_settings(settings), DAY)
    assert [r.label for r in runs] == ["arpege/01 2026-05-11T00Z", "arome/0025 2026-05-11T00Z"]
    assert [p.package for p in runs[0].products] == ["SP1", "SP2"]
    assert [p.package for p in runs[0].feature_products] == ["SP1"]
