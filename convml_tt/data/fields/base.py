"""The field registry: one entry per environment field a user can ask for.

A :class:`Field` names the variables it needs (``"t2m"``: a single-level
variable; ``"t@700"``: a pressure-level variable at 700 hPa; ERA5 short
names, see :mod:`convml_tt.data.fields.era5`), its units, how it is derived
from them and the reference of the derivation. Adding a field is one call
in one place::

    from convml_tt.data.fields import Field, register_field
    register_field(Field("T2M", needs=("t2m",), units="K", long_name="2 m temperature",
                         derive=lambda v: v["t2m"]))

or an entry point in the group ``convml_tt.fields``. The built-in fields
(LTS, EIS, RH700, WS10, OMEGA500, SST) are in
:mod:`convml_tt.data.fields.derived`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import xarray as xr

from ...registry import Registry

__all__ = ["Field", "FIELDS", "register_field", "get_field", "parse_need", "field_values"]


@dataclass(frozen=True)
class Field:
    """An environment field.

    ``name``: its registry name (``--env NAME``); ``needs``: variables,
    ``"var"`` (single level) or ``"var@LEVEL"`` (pressure level, hPa);
    ``units``: of the result (CF text); ``derive(values) -> array``: the
    field from ``{need: array}`` (all the same shape, the variables' own
    units); ``long_name``, ``reference``: for files and docs.
    """

    name: str
    needs: tuple[str, ...]
    units: str
    derive: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    long_name: str = ""
    reference: str = ""


def _field_entry(name: str, obj: Any) -> Field:
    if not isinstance(obj, Field):
        raise TypeError(f"field {name!r} must be a convml_tt.data.fields.Field, not {type(obj).__name__}")
    return obj


FIELDS = Registry("fields", "field", "convml_tt.data.fields.register_field(Field(...))", _field_entry,
                  builtins=("convml_tt.data.fields.derived", "convml_tt.data.fields.ceres"))


def register_field(field: Field, overwrite: bool = False) -> Field:
    """Register ``field`` under its name (see :class:`Field`)."""
    return FIELDS.register(field.name, field, overwrite=overwrite)


def get_field(name: str) -> Field:
    """The registered field ``name`` (any case); ``ValueError`` listing them otherwise."""
    return FIELDS.get(name)


def parse_need(need: str) -> tuple[str, float | None]:
    """``("t", 700.0)`` of ``"t@700"``, ``("t2m", None)`` of ``"t2m"``."""
    var, _, level = need.partition("@")
    return var, (float(level) if level else None)


def field_values(field: Field, ds: xr.Dataset, where: str, **isel: Any) -> np.ndarray:
    """``field`` evaluated on ``ds`` (an :func:`~convml_tt.data.fields.era5.open_era5`
    dataset, optionally narrowed by ``isel``: ``time``, ``latitude``,
    ``longitude`` indexers), float64 in the field's units, the shape of the
    selected ``(time, latitude, longitude)``.

    Raises
    ------
    ValueError
        naming the missing variables (or pressure levels) and ``where`` (the files).
    """
    missing, arrays = [], {}
    for need in field.needs:
        var, level = parse_need(need)
        if var not in ds.data_vars:
            missing.append(need)
            continue
        da = ds[var]
        if level is not None:
            if "level" not in da.dims or not np.isclose(ds["level"].values, level).any():
                missing.append(need)
                continue
            da = da.isel(level=int(np.argmin(np.abs(ds["level"].values - level))))
        elif "level" in da.dims:
            missing.append(need)
            continue
        arrays[need] = da
    if missing:
        have = sorted(f"{v}({','.join(str(int(x)) for x in ds['level'].values)} hPa)" if "level" in ds[v].dims
                      else str(v) for v in ds.data_vars)
        raise ValueError(f"field {field.name!r} needs {', '.join(missing)} (ERA5 short name[@pressure level hPa]) "
                         f"but {where} has {', '.join(have) or 'no variables'}; add the ERA5 file with them")
    values = {k: np.asarray(da.isel({d: i for d, i in isel.items() if d in da.dims})
                            .transpose("time", "latitude", "longitude").values, np.float64)
              for k, da in arrays.items()}
    return np.asarray(field.derive(values), np.float64)
