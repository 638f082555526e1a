"""Backends render one kind of job. Each is a small class with ``run(task) -> meta`` (and an
optional ``close()``); :mod:`.registry` maps the plan's backend names to them. Heavy imports
happen inside the backend modules, when a backend is first used."""
