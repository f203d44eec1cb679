"""The 13 metropolitan regions, as coded by INSEE and named in the ODRÉ temperature dataset.

Populations are INSEE's legal populations for 2021 (published 2023); they weight regional
temperatures into the national series the way population-weighted references do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    code: int  # code_insee_region
    name: str
    population: int


REGIONS: tuple[Region, ...] = (
    Region(11, "Île-de-France", 12_317_279),
    Region(24, "Centre-Val de Loire", 2_573_295),
    Region(27, "Bourgogne-Franche-Comté", 2_800_194),
    Region(28, "Normandie", 3_327_077),
    Region(32, "Hauts-de-France", 5_997_734),
    Region(44, "Grand Est", 5_568_711),
    Region(52, "Pays de la Loire", 3_873_096),
    Region(53, "Bretagne", 3_394_567),
    Region(75, "Nouvelle-Aquitaine", 6_069_352),
    Region(76, "Occitanie", 6_022_176),
    Region(84, "Auvergne-Rhône-Alpes", 8_114_361),
    Region(93, "Provence-Alpes-Côte d'Azur", 5_098_666),
    Region(94, "Corse", 347_597),
)

REGION_BY_CODE = {r.code: r for r in REGIONS}
# A national series is stored beside the regions under this code.
NATIONAL_CODE = 0
NATIONAL_NAME = "France"


def population_weights() -> dict[int, float]:
    """Region code -> share of the metropolitan population (sums to 1)."""
    total = sum(r.population for r in REGIONS)
    return {r.code: r.population / total for r in REGIONS}
