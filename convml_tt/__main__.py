"""``python -m convml_tt``: the same command line as ``convml_tt``."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
