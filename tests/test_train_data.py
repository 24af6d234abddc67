"""Training data: InternVL meta + JSONL rows, chat-template labels, tile fitting, bad inputs skipped and counted."""

import dataclasses
import json

import pytest
import torch

from chemvlm.chem import draw_molecule
from chemvlm.train.config import ConfigError, load_config, load_stage
from chemvlm.train.data import load_meta, write_jsonl, write_meta
from chemvlm.train.dataset import LengthGroupedSampler, TrainDataset
from chemvlm.train.encode import IGNORE, Encoder, SkipSample

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def encoder(tiny):
    return Encoder.for_vlm(tiny, context_length=512)


def test_labels_cover_exactly_the_assistant_answers(tiny, encoder):
    turns = [
        {"from": "human", "value": "<image>\nWhat is the SMILES?"},
        {"from": "gpt", "value": "CCO"},
        {"from": "human", "value": "分子式是什么？"},
        {"from": "gpt", "value": "分子式 C2H6O。"},
    ]
    sample = encoder.encode("a", turns, [draw_molecule("CCO", size=(300, 150))], max_tiles=6)
    # The ids are exactly the chat template's text, tokenised as a whole.
    messages = [{"role": "user" if t["from"] == "human" else "assistant", "content": t["value"]} for t in turns]
    tiles = sample.pixel_values.shape[0]
    text = tiny.tokenizer.apply_chat_template(messages, tokenize=False)
    text = text.replace("<image>", "<img>" + "<IMG_CONTEXT>" * (tiles * encoder.tokens_per_tile) + "</img>")
    assert sample.input_ids == tiny.tokenizer(text, add_special_tokens=False).input_ids
    # Supervised: each answer and its <|im_end|>, nothing else.
    supervised = [i for i, label in enumerate(sample.labels) if label != IGNORE]
    assert tiny.tokenizer.decode([sample.input_ids[i] for i in supervised]) == "CCO<|im_end|>分子式 C2H6O。<|im_end|>"
    assert all(sample.labels[i] == sample.input_ids[i] for i in supervised)
    runs = [i for i in supervised if i - 1 not in supervised]  # starts of supervised runs
    assert len(runs) == 2
    assert all(tiny.tokenizer.decode(sample.input_ids[:i]).endswith("<|im_start|>assistant\n") for i in runs)


def test_text_only_and_unplaced_images(encoder):
    text = encoder.encode("t", [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}], [], 6)
    assert text.pixel_values is None
    # An image the question does not place goes in front of the first question (InternVL's convention).
    png = draw_molecule("c1ccccc1", size=(120, 120))
    sample = encoder.encode("u", [{"from": "human", "value": "What is it?"}, {"from": "gpt", "value": "benzene"}], [png], 6)
    image_tokens = sample.input_ids.count(encoder.tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"))
    assert image_tokens == sample.pixel_values.shape[0] * encoder.tokens_per_tile > 0
    assert "user\n<img>" in encoder.tokenizer.decode(sample.input_ids) and "</img>\nWhat is it?" in encoder.tokenizer.decode(sample.input_ids)


def test_long_samples_get_fewer_tiles_then_are_skipped(tiny):
    turns = [{"from": "human", "value": "<image>\nSMILES?"}, {"from": "gpt", "value": "CCO"}]
    wide = draw_molecule("CCCCCCCCCCCCCCCC", size=(900, 150))  # 6 columns of tiles + thumbnail at max
    roomy = Encoder.for_vlm(tiny, context_length=512).encode("w", turns, [wide], 12)
    tight_encoder = Encoder.for_vlm(tiny, context_length=len(roomy) - 8)
    tight = tight_encoder.encode("w", turns, [wide], 12)
    assert not roomy.tiles_reduced and tight.tiles_reduced
    assert len(tight) <= len(roomy) - 8 and tight.pixel_values.shape[0] < roomy.pixel_values.shape[0]
    with pytest.raises(SkipSample, match="too long"):
        Encoder.for_vlm(tiny, context_length=40).encode("w", turns, [wide], 12)


def test_bad_rows_are_skipped_and_counted(tmp_path, encoder):
    (tmp_path / "ok.png").write_bytes(draw_molecule("CCO"))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    good = {"id": "good", "image": "ok.png", "conversations": [{"from": "human", "value": "<image>\nSMILES?"}, {"from": "gpt", "value": "CCO"}]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "no-answer", "conversations": [{"from": "human", "value": "hi"}]}),
        json.dumps(dict(good, id="missing", image="nowhere.png")),
        json.dumps(dict(good, id="unreadable", image="broken.png")),
        json.dumps(dict(good, id="two-placeholders", conversations=[{"from": "human", "value": "<image><image>"}, {"from": "gpt", "value": "x"}])),
        json.dumps({"id": "long", "conversations": [{"from": "human", "value": "C" * 3000}, {"from": "gpt", "value": "x"}]}),
    ]
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n")
    meta = write_meta(tmp_path / "meta.json", {"set": {"root": str(tmp_path), "annotation": "rows.jsonl", "repeat_time": 1}})
    rows, skips, sizes = load_meta(meta)
    assert sizes == {"set": 5}
    assert skips.counts == {"malformed JSON": 1, "bad row": 1}
    assert skips.examples[0][0].endswith("rows.jsonl:2") and "rows.jsonl:3" in skips.examples[1][1]
    dataset = TrainDataset(rows, encoder, max_tiles=6)
    items = [dataset[i] for i in range(len(dataset))]
    assert all(item["sample"].id == "good" for item in items)  # every bad sample is replaced by the next good one
    reasons = {sample_id: reason.split(":")[0] for item in items for sample_id, reason in item["skipped"]}
    assert reasons == {"missing": "image", "unreadable": "image", "two-placeholders": "placeholders", "long": "too long"}


def test_repeat_time_and_shards(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    row = lambda i: {"id": str(i), "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}  # noqa: E731
    write_jsonl(shards / "part-0.jsonl", [row(i) for i in range(10)])
    write_jsonl(shards / "part-1.jsonl", [row(i) for i in range(10, 20)])
    meta = write_meta(tmp_path / "meta.json", {
        "half": {"annotation": str(shards), "repeat_time": 0.5},
        "twice": {"annotation": str(shards / "part-0.jsonl"), "repeat_time": 2.5},
    })
    rows, _, sizes = load_meta(meta, seed=3)
    assert sizes == {"half": 10, "twice": 25}
    half = [r.id for r in rows if r.dataset == "half"]
    assert len(set(half)) == 10 and half == sorted(half, key=int)  # a subsample, in file order
    assert load_meta(meta, seed=3)[0][0].id == rows[0].id  # deterministic


def test_length_grouped_sampler_is_a_deterministic_permutation():
    lengths = [5, 100, 7, 90, 6, 95, 8, 99] * 5
    order = list(LengthGroupedSampler(lengths, group=4, seed=1, mega=2))
    assert sorted(order) == list(range(40)) and order == list(LengthGroupedSampler(lengths, group=4, seed=1, mega=2))
    groups = [order[i : i + 4] for i in range(0, 40, 4)]
    spread = sum(max(lengths[i] for i in g) - min(lengths[i] for i in g) for g in groups)
    assert spread < 0.5 * sum(max(lengths[i] for i in g) - min(lengths[i] for i in g) for g in [list(range(k, k + 4)) for k in range(0, 40, 4)])


def test_config_errors_are_one_line(tmp_path):
    path = tmp_path / "run.yaml"
    for text, message in [
        ("model: tiny\noutput_dir: x\ndata: {meta: m.json, packin: true}\n", "data: unknown key 'packin'"),
        ("model: tiny\noutput_dir: x\nstage: {base: stage1, llm: {mode: lorra}}\ndata: {meta: m.json}\n", "stage.llm: mode must be one of"),
        ("model: tiny\nstage: stage9\n", "missing required key 'output_dir'"),
        ("model: tiny\noutput_dir: x\nstage: stage9\ndata: {meta: m.json}\n", "unknown stage 'stage9'"),
        ("model: [tiny\n", "not valid YAML"),
        ("model: tiny\noutput_dir: x\nper_device_batch: four\ndata: {meta: m.json}\n", "per_device_batch: expected int"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=message) as err:
            load_config(path)
        assert "\n" not in str(err.value)


def test_shipped_stages_follow_the_paper():
    one, two = load_stage("stage1"), load_stage("stage2")
    assert (one.llm.mode, one.vision.mode, one.vision.r, one.projector.mode) == ("frozen", "lora", 32, "full")
    assert (two.llm.mode, two.llm.r, two.llm.lora_alpha, two.vision.r, two.vision.lora_alpha) == ("lora", 16, 32, 32, 64)
    assert one.optimizer.weight_decay == 1e-5 and two.optimizer.weight_decay == 0.0
    assert one.optimizer.lr == two.optimizer.lr == 5e-5 and one.optimizer.betas == (0.9, 0.999)
    assert two.llm.dropout == 0.05 and one.optimizer.schedule == "cosine"


def test_tar_shards_and_lazy_rows(tmp_path, encoder):
    import io
    import tarfile

    from chemvlm.train.data import AnnotationRow, LazyRows

    png = draw_molecule("CCO")
    (tmp_path / "shards").mkdir()
    with tarfile.open(tmp_path / "shards" / "set-00000.tar", "w") as tar:
        info = tarfile.TarInfo("00000000.png")
        info.size = len(png)
        tar.addfile(info, io.BytesIO(png))
    turns = [{"from": "human", "value": "<image>\nSMILES?"}, {"from": "gpt", "value": "CCO"}]
    samples = [{"id": name, "image": f"shards/set-00000.tar/{member}", "conversations": turns}
               for name, member in (("in-tar", "00000000.png"), ("not-in-tar", "00000009.png"))]
    rows = [AnnotationRow(sample, "set", str(tmp_path)) for sample in samples]
    dataset = TrainDataset(rows, encoder, max_tiles=4)
    assert dataset[0]["sample"].pixel_values is not None
    assert dataset[1]["skipped"][0][0] == "not-in-tar" and dataset[1]["skipped"][0][1].startswith("image")

    def render(smiles):  # what the data engine's lazy rows do: an image and a sample, on demand
        if smiles == "bad":
            raise ValueError("cannot draw")
        return draw_molecule(smiles), {"id": smiles, "conversations": turns}

    lazy = TrainDataset(LazyRows(["CCO", "bad", "c1ccccc1"], render, length_guess=50), encoder, max_tiles=4)
    assert lazy.estimated_lengths() == [50, 50, 50]
    assert lazy[1]["sample"].id == "c1ccccc1" and lazy[1]["skipped"][0][1].startswith("render: ValueError")


def test_encoder_transposes_tiles_for_pixel_shuffle_v1_checkpoints(tiny, molecule_png):
    from chemvlm.train.encode import Encoder

    conversation = [{"from": "human", "value": "<image>\nSMILES?"}, {"from": "gpt", "value": "CCO"}]
    plain = Encoder.for_vlm(tiny, 512).encode("a", conversation, [molecule_png], 6)
    transposing = dataclasses.replace(tiny.processor, transpose=True)
    swapped = Encoder(tiny.tokenizer, transposing, tiny.tokens_per_tile, 512).encode("a", conversation, [molecule_png], 6)
    assert plain.input_ids == swapped.input_ids
    assert torch.equal(swapped.pixel_values, plain.pixel_values.transpose(-1, -2))


@pytest.mark.parametrize("model", ["tiny", "bundled"])
def test_training_batch_equals_the_inference_input_of_the_same_image(model, tiny):
    """The one image processor: `chemvlm train` feeds a model exactly what `ask` feeds it (for the bundled
    model the ink view, for a preset InternVL's dynamic tiles with thumbnail)."""
    from chemvlm.chat.vlm import ChemVLM
    from chemvlm.spec import BUNDLED_MODEL
    from same_inputs import assert_training_input_equals_inference_input

    vlm = tiny if model == "tiny" else ChemVLM.from_pretrained(BUNDLED_MODEL)
    image = draw_molecule("CC(=O)Nc1ccc(O)cc1", size=(400, 180))
    assert_training_input_equals_inference_input(vlm, image)
    pixels = Encoder.for_vlm(vlm, 4096).encode("x", [{"from": "human", "value": "<image>\nSMILES?"},
                                                      {"from": "gpt", "value": "C"}], [image], 6).pixel_values
    if model == "bundled":  # one padded, inverted tile: white paper is 0, nothing is stretched
        assert pixels.shape == (1, 3, 224, 224) and pixels.min() == 0.0 and pixels.max() <= 2.0
        assert pixels[0, 0, :20].abs().sum() == 0  # the top rows are padding above the wide drawing
    else:  # a 2:1 picture takes a 2x1 grid plus the thumbnail, ImageNet-normalised (white is about 2.2)
        assert pixels.shape == (3, 3, 56, 56) and pixels.max() > 2.0
