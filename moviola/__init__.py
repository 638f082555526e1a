"""Moviola: a compiler from plain-text Fountain screenplays to finished films.

The work is done by :mod:`moviola.compiler` (text → checked IR) and, for builds,
:mod:`moviola.runtime`; this package holds the thin drivers over them (the CLI).
"""

__version__ = "0.1.0"
