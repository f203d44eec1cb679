"""Tests of the Météo-France GRIB decoding and weather flow."""
