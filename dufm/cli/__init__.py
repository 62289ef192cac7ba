"""The ``dufm`` command line: parse, call the library, print. One module per subcommand.

    dufm solve  [problem flags] [solver flags] [--json]
    dufm theory [problem flags] [--json]
    dufm sweep  CONFIG | --grid KEY=V1,V2 ... ;  dufm plot DIR
    dufm probe  (--point dnc|low_rank|zero [--scale S] | --solve | --result DIR [--key KEY]) [--refine] [--json]

Every flag of a library configuration comes from its dataclass field
(:mod:`dufm.cli.flags`); all text output is formatted in :mod:`dufm.cli.text`.
Bad input exits with status 2 and one line on stderr; Ctrl-C with 130.

The command owns its process, so before computing it makes one JAX CPU
device per core (``DUFM_CPU_DEVICES=n`` sets the count, 1 turns this off):
a batch of runs is then split over the cores (:func:`dufm.devices.use_cpu_cores`).
"""

from __future__ import annotations

import sys

from . import flags, plot, probe, solve, sweep, theory

COMMANDS = {"solve": solve, "theory": theory, "sweep": sweep, "plot": plot, "probe": probe}


def build_parser() -> flags.Parser:
    parser = flags.Parser(prog="dufm", description="Deep unconstrained features models: solve, closed forms, spectra.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=flags.Parser, metavar="{" + ",".join(COMMANDS) + "}")
    for module in COMMANDS.values():
        module.add(sub)
    return parser


def _use_cores():
    from ..devices import cpu_cores_from_env, use_cpu_cores

    count = cpu_cores_from_env()
    try:
        use_cpu_cores(count)
    except RuntimeError:
        pass  # main() called from a Python process whose JAX already runs: it keeps its devices


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command != "theory":
            _use_cores()
        return COMMANDS[args.command].run(args)
    except ValueError as e:
        print(f"dufm {args.command}: error: {flags.explain(str(e), args)}", file=sys.stderr)
        return 2
    except (MemoryError, OverflowError) as e:
        print(f"dufm {args.command}: error: the problem is too large for this machine ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dufm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
