"""`--site NAME`: a command run on one `ConfluenceComponent` instance of a Dagster project with
several sites, found by its name in the project's `defs.yaml` files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import ValidationError

from .settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    import dagster as dg

    from .component import ConfluenceComponent

SITE_HELP = ("the ConfluenceComponent instance (its name) whose lake to read, in a Dagster project with several "
             "sites (run from the project's root); without it, confluence.yaml and the environment")


def settings_for(site: str | None) -> Settings:
    """`--site NAME`: that ConfluenceComponent's settings; no site: `load_settings()`."""
    if not site:
        return load_settings()
    return site_settings(site)


def site_settings(name: str, root: Path | None = None) -> Settings:
    """The settings of the ConfluenceComponent instance called `name` (`site_component`): what
    `--site` picks the lake with."""
    return site_component(name, root).settings()


def site_definitions(component: ConfluenceComponent) -> dg.Definitions:
    """What the site defines, as `dg` loads it (for `sync --site`)."""
    return component.build_defs(None)  # type: ignore[arg-type]  # build_defs reads no context


def site_component(name: str, root: Path | None = None) -> ConfluenceComponent:
    """The ConfluenceComponent instance called `name`, found in the `defs.yaml` files under `root`
    (default: the current folder, the project's root where `dg` runs too)."""
    # Imported here: the commands that read the lake without --site never load Dagster.
    from dagster.components.resolved.errors import ResolutionException

    from .component import ConfluenceComponent

    root = root or Path.cwd()
    names = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in ("data", "__pycache__",
                                                                                      "node_modules")]
        if "defs.yaml" not in files:
            continue
        for doc in yaml.safe_load_all((Path(folder) / "defs.yaml").read_text()):
            if not isinstance(doc, dict) or str(doc.get("type", "")).rsplit(".", 1)[-1] != "ConfluenceComponent":
                continue
            attributes = doc.get("attributes") or {}
            names.append(str(attributes.get("name")))
            if attributes.get("name") == name:
                try:
                    return ConfluenceComponent.resolve_from_yaml(yaml.safe_dump(attributes))
                except (ResolutionException, ValidationError, ValueError) as exc:
                    raise SettingsError(f"--site {name}: {Path(folder) / 'defs.yaml'} does not load: "
                                        f"{_last_line(exc)}") from None
    raise SettingsError(f"--site {name}: no ConfluenceComponent called {name!r} in the defs.yaml files under {root} "
                        f"({'sites found: ' + ', '.join(sorted(names)) if names else 'none found'}); run the command "
                        "from the Dagster project's root, or leave --site out for the single-site setup")


def _last_line(exc: Exception) -> str:
    """The line of a resolution or validation error that says what is wrong (not pydantic's link)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "errors.pydantic.dev" not in line]
    return " ".join(lines[-2:]) if lines else type(exc).__name__
