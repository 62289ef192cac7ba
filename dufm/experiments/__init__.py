"""Experiments: sweep configs, their planned and executed grids of runs, and the typed records a results directory holds.

* :mod:`.config` — the sweep config (TOML, a manifest, or command-line flags)
  and the runs it lists;
* :mod:`.sweep` — plan (pure) -> execute (local or Ray) -> commit to the store;
* :mod:`.records` — a run's typed record, and loading a results directory
  (:func:`~.records.load_results`);
* :mod:`.provenance` — where and with what a result was computed.

The public names are re-exported by :mod:`dufm`; the figures are :mod:`dufm.plots`.
"""
