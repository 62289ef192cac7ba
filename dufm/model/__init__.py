"""The model: a deep UFM's problem statement and parameters, its objective, and the initialisations of its factors.

* :mod:`.problem` — :class:`~.problem.Problem` (validated; split into a static
  :class:`~.problem.Architecture` and array :class:`~.problem.Decays`) and
  :class:`~.problem.Params`;
* :mod:`.objective` — the forward pass, the losses and the regulariser (pure,
  jittable);
* :mod:`.init` — the registry of initialisations.

The public names are re-exported by :mod:`dufm`.
"""
