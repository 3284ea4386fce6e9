"""Geometry shared by every source: solar and satellite angles (:mod:`~convml_tt.data.geometry.solar`)."""
