"""Documents made from the script and read back into it: the printed screenplay, reports, FDX, plan diffs."""
