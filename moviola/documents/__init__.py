"""Documents made from the script and read back into it: FDX, plan diffs, PDFs and reports."""
