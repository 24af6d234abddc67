import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import get_optimal_tiled_canvas

from chemvlm.vision import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageLoadError,
    best_grid,
    dynamic_tiles,
    load_image,
    to_pixel_values,
)


# (width, height, max_num) -> (cols, rows), worked out by hand from InternVL's rule.
@pytest.mark.parametrize(
    "width, height, max_num, grid",
    [
        (448, 448, 6, (1, 1)),  # square; (2,2) ties on aspect but the image is smaller than half its area
        (1000, 1000, 6, (2, 2)),  # square and large: the tie goes to more tiles
        (1000, 1000, 12, (3, 3)),  # 1e6 px > half of 3x3 tiles (903,168 px)
        (896, 448, 6, (2, 1)),
        (300, 900, 6, (1, 3)),
        (1000, 200, 6, (5, 1)),
        (1000, 200, 4, (4, 1)),  # aspect 5 is out of reach: the widest allowed grid
        (700, 500, 6, (3, 2)),  # aspect 1.4: 3/2 = 1.5 beats 1 and 2
        (2677, 598, 6, (4, 1)),  # a real JPO page strip (aspect 4.48)
        (2677, 598, 12, (4, 1)),  # (9, 2) = 4.5 has the same tile budget problem: 18 > 12
    ],
)
def test_grid_matches_hand_computed(width, height, max_num, grid):
    assert best_grid(width, height, 448, 1, max_num) == grid


def test_grid_agrees_with_transformers_gotocr2_processor():
    rng = np.random.default_rng(0)
    for _ in range(400):
        width, height = (int(v) for v in rng.integers(20, 3000, size=2))
        for max_num in (6, 12):
            ours = best_grid(width, height, 448, 1, max_num)
            theirs = get_optimal_tiled_canvas((height, width), (448, 448), 1, max_num)
            assert ours == tuple(theirs), (width, height, max_num)


def test_tiles_are_row_major_crops_plus_thumbnail():
    # A 2x1 grid image whose left half is black and right half white: tile order must follow.
    image = Image.new("RGB", (200, 100), "white")
    image.paste((0, 0, 0), (0, 0, 100, 100))
    tiles = dynamic_tiles(image, image_size=56, max_num=6)
    assert len(tiles) == 3 and all(t.size == (56, 56) for t in tiles)
    assert np.asarray(tiles[0]).mean() < 5 and np.asarray(tiles[1]).mean() > 250
    assert 100 < np.asarray(tiles[2]).mean() < 160  # the thumbnail sees both halves
    assert len(dynamic_tiles(image, image_size=56, max_num=6, use_thumbnail=False)) == 2
    # A single tile never gets a thumbnail.
    assert len(dynamic_tiles(Image.new("RGB", (56, 56)), image_size=56)) == 1


def test_pixel_values_are_imagenet_normalised():
    white = Image.new("RGB", (8, 8), "white")
    values = to_pixel_values([white, white])
    assert values.shape == (2, 3, 8, 8) and values.dtype == torch.float32
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    assert torch.allclose(values[0, :, 0, 0], torch.tensor(expected))


def _png(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kwargs.pop("format", "PNG"), **kwargs)
    return buffer.getvalue()


def test_loads_path_bytes_pil_and_data_url(tmp_path, molecule_png):
    path = tmp_path / "m.png"
    path.write_bytes(molecule_png)
    url = "data:image/png;base64," + base64.b64encode(molecule_png).decode()
    loaded = [load_image(src) for src in (str(path), path, molecule_png, Image.open(io.BytesIO(molecule_png)), url)]
    assert all(im.mode == "RGB" and im.size == (320, 240) for im in loaded)
    assert all(np.array_equal(np.asarray(loaded[0]), np.asarray(im)) for im in loaded)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    loaded = load_image(_png(image, format="JPEG", exif=exif.tobytes()))
    assert loaded.size == (20, 40)


def test_transparency_is_flattened_on_white():
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 0, 255))
    loaded = np.asarray(load_image(_png(rgba)))
    assert loaded[5, 5].tolist() == [255, 255, 255] and loaded[0, 0].tolist() == [0, 0, 0]
    la = Image.new("LA", (4, 4), (0, 0))
    assert np.asarray(load_image(_png(la))).min() == 255


@pytest.mark.parametrize("mode", ["1", "L", "P", "CMYK", "I;16", "I", "F"])
def test_modes_are_converted_to_rgb(mode):
    gray = Image.linear_gradient("L").resize((32, 32))
    if mode in ("I;16", "I", "F"):
        scale = {"I;16": 257, "I": 257, "F": 1}[mode]
        image = Image.fromarray((np.asarray(gray).astype(np.float64) * scale).astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    else:
        image = gray.convert(mode)
    data = _png(image, format="TIFF") if mode in ("CMYK", "F", "I") else _png(image)
    loaded = load_image(data)
    assert loaded.mode == "RGB" and loaded.size == (32, 32)
    if mode in ("L", "I;16", "I", "F", "P"):
        # The gradient survives the conversion: top row dark, bottom row bright.
        array = np.asarray(loaded)
        assert array[0].mean() < 30 and array[-1].mean() > 220


def test_bad_inputs_fail_with_one_line_naming_the_input(tmp_path, molecule_png):
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(molecule_png[: len(molecule_png) // 2])
    cases = {
        str(not_image): "not a readable image",
        str(truncated): "damaged or truncated",
        str(tmp_path / "missing.png"): "no such file",
        "data:image/png;base64,@@@": "bad base64",
    }
    for source, message in cases.items():
        with pytest.raises(ImageLoadError) as err:
            load_image(source)
        text = str(err.value)
        assert message in text and "\n" not in text
        assert source[:20] in text


def test_decompression_bomb_is_refused_before_decoding():
    big = _png(Image.new("1", (9000, 9000)))  # 81 MP, tiny as a 1-bit PNG
    with pytest.raises(ImageLoadError, match="over the limit"):
        load_image(big)
    assert load_image(big, max_pixels=100_000_000).size == (9000, 9000)


def test_pixel_values_can_transpose_each_tile():
    image = Image.new("RGB", (4, 4), "white")
    image.putpixel((3, 0), (0, 0, 0))  # top-right corner
    plain, swapped = to_pixel_values([image]), to_pixel_values([image], transpose=True)
    assert torch.equal(swapped, plain.transpose(-1, -2))
    assert plain[0, 0, 0, 3] < 0 and swapped[0, 0, 3, 0] < 0  # the dark pixel moved to the bottom-left
