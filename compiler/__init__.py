"""Moviola's compiler: Fountain text → syntax elements → typed IR → diagnostics.

Pure Python with no heavy imports; the CLI and the language server share it through
:mod:`moviola.compiler.api`.
"""
