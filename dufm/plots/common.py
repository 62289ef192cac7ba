"""Writing figures: :func:`save` a :class:`~matplotlib.figure.Figure` as PNG or PDF."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def check_path(path) -> Path:
    """``path`` as a Path if it names a format :func:`save` writes (``.png`` or ``.pdf``); else a ValueError."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf"):
        raise ValueError(f"plot path must end in .png or .pdf, got {str(path)!r}")
    return path


def save(fig: Figure, path) -> Path:
    """Write ``fig`` to ``path`` (``.png`` or ``.pdf``, the format following the suffix); returns the path."""
    path = check_path(path)
    fig.savefig(path, dpi=150, bbox_inches="tight")
    return path
