"""Météo-France ARPEGE/AROME GRIB2: catalogue, download, archive, decoding and weather features."""
