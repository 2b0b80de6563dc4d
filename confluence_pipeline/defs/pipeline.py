"""The resource that hands assets the project's settings (filters, time zone, data directory)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ..settings import Settings, load_settings


class PipelineResource(dg.ConfigurableResource):
    """Settings from `settings_file` (default: $CONFLUENCE_SETTINGS or ./confluence.yaml) and the
    environment, or a ConfluenceComponent's (`site_settings`: its settings as JSON, no secrets; its
    auth is the site's confluence resource's); `data_dir` overrides where DuckDB, Parquet and
    attachments go."""

    settings_file: str = ""
    site_settings: str = ""
    data_dir: str = ""

    def load(self) -> Settings:
        settings = (Settings.model_validate_json(self.site_settings) if self.site_settings
                    else load_settings(self.settings_file or None))
        if self.data_dir:
            settings = settings.model_copy(update={"data_dir": Path(self.data_dir)})
        return settings
