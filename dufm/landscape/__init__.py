"""The landscape around a point: Hessians and critical points.

* :mod:`.hessian` — Hessian-vector products, the dense Hessian, inertia,
  Lanczos extremes, SLQ densities and Hutchinson traces (``dufm.hessian``);
* :mod:`.critical` — Newton-MR refinement to a critical point and its
  second-order classification, symmetry orbits (``dufm.critical``).
"""
