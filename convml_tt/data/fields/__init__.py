"""Environment fields (reanalysis) read as their producers deliver them,
derived quantities and their co-location with tiles; see
:mod:`.era5` (reading), :mod:`.base` (the field registry), :mod:`.derived`
(LTS, EIS, RH700, WS10, OMEGA500, SST) and :mod:`.colocate`."""
from .base import FIELDS, Field, field_values, get_field, register_field
from .colocate import Environment, environment_from, parse_env
from .era5 import open_era5

__all__ = ["FIELDS", "Field", "field_values", "get_field", "register_field", "Environment", "environment_from",
           "parse_env", "open_era5"]
