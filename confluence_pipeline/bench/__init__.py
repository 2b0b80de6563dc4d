"""The benchmarks behind `confluence-pipeline bench`: `cli.py` wires the subcommands, one module
per benchmark (emulator, sync, storage, faults, incremental, freshness, peers; search and embed
live in `search/`), and the helpers they share: `common.py` (memory, percentiles, ports, the
emulator in its own process), `sync_runs.py` (`confluence-pipeline sync` in its own process)
and `site_check.py` (the tables against the site)."""
