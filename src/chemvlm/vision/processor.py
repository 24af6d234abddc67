"""The image processor: how one checkpoint turns a picture into pixel values.

Saved in the checkpoint's config.json (`chemvlm.image_processor`) and used by everything that feeds the
model pictures (inference, `chemvlm train`, the small-model recipe, the server), so that a model is trained
on exactly what it is later shown. Two views exist:
- InternVL's dynamic tiles (`vision.tiling`): a grid of square tiles plus a thumbnail, ImageNet-normalised;
- the ink view (`vision.ink`) of small models trained from scratch: one tile of the whole picture padded to a
  square, strokes thickened, grey, ink bright on a zero background.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from PIL import Image

from chemvlm.vision.ink import ink_tile
from chemvlm.vision.tiling import best_grid, dynamic_tiles, to_pixel_values

# Keys of checkpoints saved before the processor had its own section (flat in `chemvlm`).
_LEGACY_KEYS = {"max_tiles": "max_tiles", "use_thumbnail": "use_thumbnail", "transpose_tiles": "transpose",
                "ink_view": "ink_view", "thicken": "thicken"}


@dataclass(frozen=True)
class ImageProcessor:
    tile_size: int = 448  # the vision tower's input side
    max_tiles: int = 6  # tiles per image unless a caller asks for fewer or more (ChemVLM's evaluation used 6)
    use_thumbnail: bool = True  # a 1-tile overview is appended when an image takes several tiles
    transpose: bool = False  # swap each tile's height and width: checkpoints converted from pixel-shuffle v1
    ink_view: bool = False  # one padded, thickened, inverted grey tile instead of normalised dynamic tiles
    thicken: int = 3  # the ink view's minimum-filter size in pixels (1: none)

    def __post_init__(self):
        if self.tile_size < 1 or self.max_tiles < 1 or self.thicken < 1:
            raise ValueError(f"image processor: tile_size, max_tiles and thicken must be >= 1 ({self})")

    # ---- pictures to tiles ----------------------------------------------------------------------------
    def tile_count(self, width: int, height: int, max_tiles: int | None = None) -> int:
        """How many tiles (and so how many image-token blocks) a width x height picture becomes."""
        if self.ink_view:
            return 1
        cols, rows = best_grid(width, height, self.tile_size, 1, max_tiles or self.max_tiles)
        return cols * rows + (1 if self.use_thumbnail and cols * rows > 1 else 0)

    def tiles(self, image: Image.Image, max_tiles: int | None = None) -> list[Image.Image]:
        if self.ink_view:
            return [ink_tile(image, self.tile_size, self.thicken)]
        return dynamic_tiles(image, self.tile_size, 1, max_tiles or self.max_tiles, self.use_thumbnail)

    # ---- tiles to tensors -----------------------------------------------------------------------------
    def pixel_values(self, tiles: list[Image.Image]):
        """(n_tiles, 3, S, S) float32, in the order given."""
        return to_pixel_values(tiles, self.transpose, invert=self.ink_view)

    def preprocess(self, images: list[Image.Image], max_tiles: int | None = None):
        """Pixel values of all tiles of loaded pictures, in order (None when there is no picture)."""
        tiles = [tile for image in images for tile in self.tiles(image, max_tiles)]
        return self.pixel_values(tiles) if tiles else None

    def single_ink_tile(self, size: int) -> "ImageProcessor":
        """This processor's ink view as one tile of `size` px (what the graph head reads, model.graph_head)."""
        return replace(self, tile_size=size, ink_view=True, max_tiles=1, use_thumbnail=False)

    # ---- saving ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None, tile_size: int) -> "ImageProcessor":
        """From a checkpoint's `chemvlm` section (or a preset's `image_processor`); `tile_size` is the vision
        tower's, which a saved value must match."""
        data = dict(data or {})
        saved = data.get("image_processor")
        if saved is None:  # an older checkpoint: the settings sat flat beside the system message
            saved = {new: data[old] for old, new in _LEGACY_KEYS.items() if old in data}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(saved) - known)
        if unknown:
            raise ValueError(f"image processor: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        if saved.get("tile_size", tile_size) != tile_size:
            raise ValueError(f"image processor: tile_size {saved['tile_size']} but the vision tower takes {tile_size}-px tiles")
        return cls(**{**saved, "tile_size": tile_size})
