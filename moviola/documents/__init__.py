"""Documents made from a script: the printed screenplay, reports, exchange formats."""
