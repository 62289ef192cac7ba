"""The process the ``dufm`` command owns: its CPU devices, Ctrl-C and a closed output pipe.

Ctrl-C ends the command at once with one line and exit status 130, from the
SIGINT handler itself (:func:`catch_interrupts`). Raising KeyboardInterrupt
instead is not safe here: JAX runs Python inside its own callbacks (garbage
collection hooks), where the exception is printed and dropped so the command
runs on, and tearing the interpreter down while JAX still executes work it
dispatched has crashed the process (SIGSEGV, SIGABRT; seen). Leaving at once
loses nothing: every file of the results store is written atomically, and
while a run is being committed (:func:`dufm.store.committing`) the handler
only records the interrupt; the command then stops at the next safe point
(:func:`check_interrupt`, after each committed batch). The OS releases the
store's lock; temporary files are removed by the next sweep.
"""

from __future__ import annotations

import os
import signal
import sys

_state = {"command": "", "interrupted": False, "previous": None}
HINTS = {"sweep": "; every finished run is stored, run the same command again to resume"}


def _prefix(command: str) -> str:
    return f"dufm{' ' + command if command else ''}"


def interrupted(command: str) -> str:
    """The line an interrupted command prints."""
    return f"{_prefix(command)}: interrupted{HINTS.get(command, '')}"


def _stop():
    print(interrupted(_state["command"]), file=sys.stderr)
    leave(130)


def _on_interrupt(signum, frame):
    # never import here: the signal may arrive in the middle of an import, and a nested one then meets half-made modules
    store = sys.modules.get("dufm.store")
    _state["interrupted"] = True
    if store is None or not store.committing():
        _stop()


def catch_interrupts(command: str = ""):
    """Install the SIGINT handler, unless SIGINT is ignored (a background job of a shell script keeps it so)."""
    _state.update(command=command, interrupted=False)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        _state["previous"] = signal.signal(signal.SIGINT, _on_interrupt)


def name_command(command: str):
    _state["command"] = command


def release_interrupts():
    """Put back the handler :func:`catch_interrupts` replaced (main() may run inside a longer-lived Python process)."""
    if _state["previous"] is not None:
        signal.signal(signal.SIGINT, _state["previous"])
        _state["previous"] = None


def check_interrupt():
    """Stop now if an interrupt arrived while a run was being committed."""
    if _state["interrupted"]:
        _stop()


def one_line_warnings():
    """Print every warning as one line, ``dufm COMMAND: warning: ...`` (a damaged run set aside, say); returns what to restore."""
    import warnings

    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{_prefix(_state['command'])}: warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    return previous


def restore_warnings(previous):
    import warnings

    warnings.showwarning = previous


def check_environment():
    """A ValueError naming the variable when ``DUFM_CPU_DEVICES`` or ``DUFM_COMPILATION_CACHE`` is malformed, for every
    command (also those that run no JAX and so use neither)."""
    from ..runtime import cache_enabled, cpu_cores_from_env

    cpu_cores_from_env()
    cache_enabled()


def use_cores():
    """One JAX CPU device per core, or ``DUFM_CPU_DEVICES``; nothing when JAX already runs (main() called from Python).

    Also turns on the persistent compilation cache unless ``DUFM_COMPILATION_CACHE=0`` (:mod:`dufm.runtime`).
    """
    from ..runtime import cache_enabled, cpu_cores_from_env, use_compilation_cache, use_cpu_cores

    count = cpu_cores_from_env()
    if cache_enabled():
        use_compilation_cache()
    try:
        use_cpu_cores(count)
    except RuntimeError:
        pass


def silence_stdout():
    """Point stdout at /dev/null, so that the interpreter's final flush into a closed pipe fails silently."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def leave(code: int):
    """End the process with ``code`` now, without the interpreter's teardown (module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
