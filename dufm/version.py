"""dufm's version (pyproject.toml's ``version``), in a module of its own so that low modules (provenance) can name it."""

__version__ = "0.2.0"
