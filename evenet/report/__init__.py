"""The workflow's report (rule report, part of `all`): ``{output_dir}/report/index.html`` and
``index.md``, one page a physicist reviews.

Per analysis its summary.md, plots and CSV tables; the dataset summaries; every training run's
curves; and provenance: code version, config fingerprints, seeds, package versions, devices and
per-stage wall time and memory from the workflow's benchmark files.

Modules: benchmarks (the per-stage budget), provenance (code, config, packages, devices),
collect (what the output directory holds), sections (the page's sections in Markdown), render
(Markdown and HTML), build (writes the folder), dry_run (a dry run's job counts), cli.
"""
