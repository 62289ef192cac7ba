"""The ``dufm`` command line: parse, call the library, print. One module per subcommand.

    dufm solve  [problem flags] [solver flags] [--json]
    dufm theory [problem flags] [--json]
    dufm sweep  CONFIG | --grid KEY=V1,V2 ... ;  dufm plot DIR
    dufm probe  (--point dnc|low_rank|zero [--scale S] | --solve | --result DIR [--key KEY]) [--refine] [--json]
    dufm analyse FEATURES.npz [--json] [--out DIR]

Every flag of a library configuration comes from its dataclass field
(:mod:`dufm.cli.flags`); all text output is formatted in :mod:`dufm.cli.text`.
Every failure is one line on stderr: bad input, a file or store problem and a
closed output pipe exit 2, Ctrl-C exits 130 (:mod:`dufm.cli.process`).

The command owns its process, so before computing it makes one JAX CPU
device per core (``DUFM_CPU_DEVICES=n`` sets the count, 1 turns this off):
a batch of runs is then split over the cores (:func:`dufm.use_cpu_cores`).

Nothing is imported at module level: an interrupt while the libraries load
is caught like any other.
"""

from __future__ import annotations

import sys

COMMANDS = ("solve", "theory", "sweep", "plot", "probe", "optimum", "analyse")  # each a module of this package with add(sub) and run(args)


def _command(name: str):
    import importlib

    return importlib.import_module(f".{name}", __name__)


def build_parser(command: str | None = None):
    """The parser; only ``command``'s flags are built when one is named (the others get their one-line help).

    Building a command's flags imports its library modules (JAX among them),
    so ``dufm --help`` and ``dufm theory`` do not pay for the solver's.
    """
    from .. import __version__
    from . import flags

    parser = flags.Parser(prog="dufm", description="Deep unconstrained features models: solve, closed forms, spectra.")
    parser.add_argument("--version", action="version", version=f"dufm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=flags.Parser, metavar="{" + ",".join(COMMANDS) + "}")
    for name in COMMANDS:
        module = _command(name)
        if command is None or name == command:
            module.add(sub)
        else:
            sub.add_parser(name, help=module.HELP)
    return parser


def _error(command: str, text: str) -> int:
    print(f"dufm {command}: error: {text}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    """Run one command; returns the exit status (0; 2 for a failure; Ctrl-C ends the process with 130)."""
    words = [w for w in (sys.argv[1:] if argv is None else argv) if not w.startswith("-")]
    command, args, shown = (words[0] if words and words[0] in COMMANDS else ""), None, None
    try:
        from . import process

        process.catch_interrupts(command)  # named before the slow imports, which an interrupt may hit
        shown = process.one_line_warnings()
        from . import flags

        args = build_parser(command or "").parse_args(argv)
        command = args.command
        process.name_command(command)
        process.check_environment()
        if command not in ("theory", "analyse"):  # neither runs JAX
            process.use_cores()
        code = _command(command).run(args)
        process.check_interrupt()
        return code
    except KeyboardInterrupt:  # a SIGINT that Python delivered before the handler was installed
        from .process import interrupted

        print(interrupted(command), file=sys.stderr)
        return 130
    except BrokenPipeError:
        process.silence_stdout()
        return _error(command, "the output was closed before everything was written (broken pipe)")
    except ValueError as e:
        return _error(command, str(e) if args is None else flags.explain(str(e), args))
    except OSError as e:
        return _error(command, f"{e.filename}: {e.strerror or e}" if e.filename else str(e))
    except (MemoryError, OverflowError) as e:
        return _error(command, f"the problem is too large for this machine ({type(e).__name__}: {e})")
    finally:
        from . import process

        process.release_interrupts()
        if shown is not None:
            process.restore_warnings(shown)


def run():
    """The console script: :func:`main`; an interrupted command leaves at once (see :mod:`dufm.cli.process`)."""
    code = main()
    if code == 130:
        from . import process

        process.leave(code)
    sys.exit(code)
