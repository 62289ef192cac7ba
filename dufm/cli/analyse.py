"""``dufm analyse``: NC metrics, spectra and solution type of a trained network's features (an .npz feature file)."""

from __future__ import annotations

import json

from . import flags, text

HELP = "NC metrics and spectra of a network's per-layer features (.npz)"
DESCRIPTION = ("NC1 (Papyan; trace quotient), CDNV, NC2 (ETF error, equinorm, equiangularity), NC3 (with classifier weights), NC4, "
               "singular values and ranks of every layer's features and class means, and the DNC / low-rank / other verdict. "
               "The file holds 'labels' (N,) and one (N, d) or (E, N, d) array per layer; optional W_<layer> (K, d), b_<layer> (K,), "
               "checkpoints (E,) (docs/real_networks.md).")


def add(sub):
    from ..analysis.solution import Thresholds
    from ..features.analysis import CHUNK

    p = sub.add_parser("analyse", help=HELP, description=DESCRIPTION)
    p.add_argument("file", help="feature file (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--out", metavar="DIR", help="also store the analysis in results directory DIR (drawn by dufm plot DIR)")
    p.add_argument("--chunk", type=flags.integer, default=CHUNK, help=f"samples read at a time (default {CHUNK})")
    flags.add_fields(p.add_argument_group("thresholds"), Thresholds)


def run(args) -> int:
    from ..analysis.solution import Thresholds
    from ..features.analysis import analyse_features
    from ..features.records import store
    from ..store import jsonable

    th = flags.build(Thresholds, args)
    analysis = analyse_features(args.file, th, args.chunk)
    key = None if args.out is None else store(analysis, args.out)  # after the whole analysis: a failure writes nothing
    if args.json:
        print(json.dumps(jsonable({**analysis.to_dict(), **({"stored": {"dir": args.out, "key": key}} if key else {})})))
    else:
        print("\n".join(text.analyse_report(analysis)))
        if key:
            print(f"stored in {args.out} as run {key} (dufm plot {args.out})")
    return 0
