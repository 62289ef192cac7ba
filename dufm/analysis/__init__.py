"""The analysis of a point: spectra, neural-collapse metrics, and the solution type.

* :mod:`.spectra` — singular values, numerical ranks, their events over a
  recorded trajectory, and the scale-free quantities of the logits;
* :mod:`.collapse` — the NC metrics of a feature matrix, from statistics
  accumulated over its samples (dufm's own points and a trained network's
  streamed features alike);
* :mod:`.multilabel` — the multi-label collapse of features whose samples
  carry label sets (Li et al. 2023): the tag-wise average and the within-set
  variability of each multiplicity;
* :mod:`.solution` — :func:`~.solution.analyse`: every layer's spectra, ranks
  and NC metrics, and the solution type (DNC, low-rank, trivial, other).

The public names are re-exported by :mod:`dufm`.
"""
