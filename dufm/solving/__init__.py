"""Solving: optax optimisers compiled into one program per batch of runs, laid out over the devices.

* :mod:`.solver` — :class:`~.solver.SolverConfig`, the compiled single-run
  program (:func:`~.solver.run`), :func:`~.solver.run_many` (every batch of
  solves runs through it) and :func:`~.solver.solve` (problem + seeds);
* :mod:`.programs` — a batch of independent runs as one compiled program
  over the local devices (shared with the optimum search);
* :mod:`.budget` — memory and time estimates, known before a job runs.

The public names are re-exported by :mod:`dufm`.
"""
