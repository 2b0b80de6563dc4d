"""The Dagster-free sync engine: what each asset reads from Confluence and how it lands in the lake."""
