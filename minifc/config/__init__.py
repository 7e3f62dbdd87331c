"""A run's configuration: the keys of ``minifc train`` (options, TOML / JSON files, a run's
``config.json``), their checks, and how they are resolved, saved and compared on resume. The command
line (:mod:`minifc.cli`) and the run folders (:mod:`minifc.io.runs`) both read it."""
