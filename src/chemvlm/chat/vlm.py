"""ChemVLM: a native InternVL model with its tokenizer, chat settings and image processor.

`ChemVLM.from_pretrained(path).ask(images, question)` answers one question; `ask_batch` many in one generate
call; `stream` yields the text as it is generated. Engines (chemvlm.engines) wrap it for the command line,
the server and benchmarks.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from transformers import (
    AutoTokenizer,
    InternVLForConditionalGeneration,
    TextIteratorStreamer,
)

from chemvlm.chat.template import build_messages, expand_image_placeholders
from chemvlm.chem import MoleculeInfo, describe, extract_smiles
from chemvlm.chem.graph import GraphError, graph_smiles
from chemvlm.model.build import build_model, load_settings, save_settings
from chemvlm.model.graph_head import GraphHead, read as read_graph
from chemvlm.model.checkpoint import CheckpointError, require_checkpoint  # noqa: F401 (re-exported)
from chemvlm.model.presets import ChatSettings, load_preset, tokens_per_tile
from chemvlm.model.tokenizer import IM_END, STARTER_CORPUS, build_tokenizer
from chemvlm.vision import load_image
from chemvlm.vision.processor import ImageProcessor


@dataclass
class Answer:
    text: str
    molecule: MoleculeInfo  # RDKit's view of the SMILES found in the text (valid=False when none)
    new_tokens: int
    seconds: float
    # The model's own belief in its answer: the geometric mean of the probabilities of its tokens (the end
    # token included; for beam search the beam's length-normalised score), in [0, 1].
    likelihood: float = 0.0

    @property
    def smiles(self) -> str | None:
        return self.molecule.smiles or None


@dataclass(frozen=True)
class GraphReading:
    smiles: str | None  # canonical SMILES of the graph's molecule; None when it makes none
    probability: float  # the head's chance that every atom and bond was read right
    atoms: int  # nodes read
    problem: str = ""  # why there is no SMILES


class ChemVLM:
    """A native InternVL model with its tokenizer, chat settings and image processor: prompts in, answers out."""

    def __init__(self, model: InternVLForConditionalGeneration, tokenizer, settings: ChatSettings | None = None,
                 processor: ImageProcessor | None = None, graph_head: GraphHead | None = None):
        self.model = model.eval()
        self.graph_head = graph_head.eval() if graph_head is not None else None  # reads structures as graphs
        self.tokenizer = tokenizer
        saved_settings, saved_processor = load_settings(model.config)
        self.settings = settings or saved_settings
        self.processor = processor or saved_processor
        vision = model.config.vision_config
        self.tokens_per_tile = tokens_per_tile(vision.image_size[0], vision.patch_size[0], model.config.downsample_ratio)
        stops = [tokenizer.convert_tokens_to_ids(IM_END), tokenizer.eos_token_id]
        self.stop_ids = [i for i in dict.fromkeys(stops) if i is not None and i != tokenizer.unk_token_id]

    # ---- loading and saving -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype | None = None, device: str | None = None) -> "ChemVLM":
        path = require_checkpoint(path)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # transformers' "Loading weights" bar is not part of an answer
        model = InternVLForConditionalGeneration.from_pretrained(path, dtype=dtype or torch.float32)
        if device:
            model = model.to(device)
        tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.padding_side = "left"
        head = GraphHead.load(path, model.config.vision_config.hidden_size)
        return cls(model, tokenizer, graph_head=head.to(model.device) if head is not None else None)

    @classmethod
    def from_preset(cls, name: str, tokenizer=None, seed: int = 0) -> "ChemVLM":
        """A randomly initialised model of a preset's shape (for tests and experiments)."""
        preset = load_preset(name)
        tokenizer = tokenizer or build_tokenizer(STARTER_CORPUS, preset.chat.system_message, vocab_size=600)
        return cls(build_model(preset, tokenizer, seed=seed), tokenizer)

    def save_pretrained(self, path: str | Path) -> None:
        save_settings(self.model.config, self.settings, self.processor)
        self.model.generation_config.eos_token_id = self.stop_ids
        self.model.generation_config.pad_token_id = self.tokenizer.pad_token_id
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        if self.graph_head is not None:
            self.graph_head.save(path)

    # ---- prompting ----------------------------------------------------------------------------------
    def prompt(self, n_images: int, question: str, history=None, tiles_per_image: list[int] | None = None) -> str:
        """The exact text fed to the model; with `tiles_per_image`, image placeholders are expanded."""
        messages = build_messages(question, n_images, history)
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if tiles_per_image is not None:
            text = expand_image_placeholders(text, tiles_per_image, self.tokens_per_tile)
        return text

    def _encode(self, items, max_tiles: int | None) -> dict:
        """Tokenise a batch of (images, question, history), left-padded, with all tiles stacked in order."""
        prompts, pictures = [], []
        for images, question, history in items:
            loaded = [load_image(image) for image in images]
            counts = [self.processor.tile_count(p.width, p.height, max_tiles) for p in loaded]
            prompts.append(self.prompt(len(images), question, history, counts))
            pictures += loaded
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True)
        inputs = {k: v.to(self.model.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        pixel_values = self.processor.preprocess(pictures, max_tiles)
        if pixel_values is not None:
            inputs["pixel_values"] = pixel_values.to(self.model.device, self.model.dtype)
        return inputs

    def _generation_kwargs(self, max_new_tokens: int, generation: dict) -> dict:
        kwargs = {"max_new_tokens": max_new_tokens, "do_sample": False, "num_beams": 1}  # greedy by default
        kwargs.update(generation)
        kwargs.update(eos_token_id=self.stop_ids, pad_token_id=self.tokenizer.pad_token_id)
        return kwargs

    def _decode(self, tokens: torch.Tensor) -> tuple[str, int]:
        ids = tokens.tolist()
        for n, token in enumerate(ids):
            if token in self.stop_ids:
                ids = ids[:n]
                break
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip(), len(ids)

    # ---- reading structures as graphs -------------------------------------------------------------------
    @torch.inference_mode()
    def read_graphs(self, images: list) -> list[GraphReading]:
        """Each picture's structure decoded by the graph head from the vision tower's features of one ink tile
        at the head's side (model.graph_head): the SMILES RDKit builds from the graph and the chance that the
        graph is read right; no SMILES when the graph makes no molecule."""
        if self.graph_head is None:
            raise ValueError("this checkpoint has no graph head (graph_head.pt)")
        processor = self.processor.single_ink_tile(self.graph_head.size)
        pixels = processor.preprocess([load_image(image) for image in images]).to(self.model.device, self.model.dtype)
        hidden = self.model.model.vision_tower(pixel_values=pixels).last_hidden_state.float()
        readings = []
        for graph, probability in read_graph(self.graph_head, hidden):
            try:
                readings.append(GraphReading(graph_smiles(graph), probability, len(graph.atoms)))
            except GraphError as err:
                readings.append(GraphReading(None, 0.0, len(graph.atoms), str(err)))
        return readings

    # ---- asking -------------------------------------------------------------------------------------
    @torch.inference_mode()
    def ask_batch(
        self, items, max_new_tokens: int = 256, max_tiles: int | None = None, num_return_sequences: int = 1, **generation
    ) -> list[Answer] | list[list[Answer]]:
        """Answers for many (images, question) or (images, question, history) items in one generate call.
        With num_return_sequences > 1 (beam search or sampling), a list of candidates per item."""
        items = [tuple(item) + (None,) * (3 - len(item)) for item in items]
        if not items:
            return []
        start = time.perf_counter()
        inputs = self._encode(items, max_tiles)
        kwargs = self._generation_kwargs(max_new_tokens, generation)
        kwargs["num_return_sequences"] = num_return_sequences
        output = self.model.generate(**inputs, **kwargs, return_dict_in_generate=True, output_scores=True)
        seconds = (time.perf_counter() - start) / len(items)
        new = output.sequences[:, inputs["input_ids"].shape[1]:]
        answers = []
        for row, likelihood in zip(new, self._likelihoods(output, new)):
            text, n = self._decode(row)
            answers.append(Answer(text, describe(extract_smiles(text)), n, seconds, likelihood))
        if num_return_sequences == 1:
            return answers
        return [answers[i : i + num_return_sequences] for i in range(0, len(answers), num_return_sequences)]

    def _likelihoods(self, output, new: torch.Tensor) -> list[float]:
        """Per sequence: exp(mean log-probability of its tokens up to and including the first stop token)."""
        if getattr(output, "sequences_scores", None) is not None:  # beam search scores its beams itself
            return output.sequences_scores.float().exp().tolist()
        logprobs = torch.stack(output.scores, 1).float().log_softmax(-1)
        chosen = logprobs.gather(-1, new[:, : logprobs.shape[1], None]).squeeze(-1)
        stops = torch.isin(new[:, : logprobs.shape[1]], torch.tensor(self.stop_ids, device=new.device))
        # tokens after the first stop are padding: a running count of stops before each position masks them
        keep = (stops.cumsum(1) - stops.long()) == 0
        mean = (chosen * keep).sum(1) / keep.sum(1).clamp(min=1)
        return mean.exp().tolist()

    def ask(self, images, question: str, history=None, **generation) -> Answer:
        """One answer. `images`: one image or a list (path, bytes, data URL or PIL image)."""
        images = images if isinstance(images, (list, tuple)) else [images]
        return self.ask_batch([(list(images), question, history)], **generation)[0]

    def stream(self, images, question: str, history=None, max_new_tokens: int = 256, max_tiles=None, **generation) -> Iterator[str]:
        """The answer as it is generated, piece by piece."""
        images = images if isinstance(images, (list, tuple)) else [images]
        inputs = self._encode([(list(images), question, history)], max_tiles)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = self._generation_kwargs(max_new_tokens, generation)
        errors = []

        def run():
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, **kwargs, streamer=streamer)
            except Exception as err:  # surfaced in the caller's thread below
                errors.append(err)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        yield from streamer
        thread.join()
        if errors:
            raise errors[0]
