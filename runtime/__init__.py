"""Moviola's runtime: executes a render plan (cache, scheduler, backends, edit and mux).

Heavy libraries (PyAV, and for GPU profiles torch/diffusers) are imported inside the modules
that need them, never at package import.
"""
