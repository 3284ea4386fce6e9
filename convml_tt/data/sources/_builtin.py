"""The sources that ship with convml_tt, registered in the order
:func:`convml_tt.data.sources.identify` asks them (a GOES ABI file goes to
``goes_abi``; ``satpy`` reads it only when named with ``--source satpy``)."""
from . import register_source
from .goes_abi.source import GOESABISource
from .gridded import GriddedSource
from .satpy_reader import SatpySource

register_source(GOESABISource)
register_source(SatpySource)
register_source(GriddedSource)
