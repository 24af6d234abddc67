"""Dense losses on the vision tower: the patch-class loss, a linear head on the tower's last hidden states that
names what each patch shows (empty, a bond order, an element; data.patches), which gives a tower trained from
scratch a dense signal, so it learns atoms in a few ten thousand pictures; and the graph loss, the graph head
(model.graph_head) reading atoms and bonds from the tower's features of a larger tile. The training loss is a
weighted sum of named components: `answer` (cross-entropy of the answer tokens), `patch_classes`, `graph`.
Without `answer`, the language model is not run at all.

A checkpoint of such a model is a plain ChemVLM checkpoint plus `patch_head.pt` / `graph_head.pt` beside it.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from chemvlm.bench.metrics import score_smiles, summarize_smiles
from chemvlm.chem.smiles import extract_smiles
from chemvlm.data.patches import EMPTY, PATCH_CLASSES, SINGLE
from chemvlm.model import graph_head as graphs
from chemvlm.train.drawn import encode_traced

HEAD_FILE = "patch_head.pt"


class PatchSupervised(torch.nn.Module):
    def __init__(self, model, weights: dict[str, float], graph_size: int = 448):
        super().__init__()
        self.model = model  # InternVLForConditionalGeneration (or its PEFT wrapper)
        self.weights = weights
        hidden = model.config.vision_config.hidden_size
        self.patch_head = torch.nn.Linear(hidden, len(PATCH_CLASSES))
        self.graph_head = graphs.GraphHead(hidden, graph_size) if "graph" in weights else None
        self.parts: dict[str, float] = {}  # the last forward's loss components, for the log
        self._hidden = None
        self.tower = model.get_base_model().model.vision_tower if hasattr(model, "get_base_model") else model.model.vision_tower
        self.tower.register_forward_hook(lambda m, i, o: setattr(self, "_hidden", o.last_hidden_state))

    @property
    def config(self):
        return self.model.config

    def forward(self, input_ids, labels=None, attention_mask=None, position_ids=None, pixel_values=None,
                patch_classes=None, use_cache=None, graph_pixels=None, graph=None):
        parts, logits = {}, None
        if "answer" in self.weights or "patch_classes" in self.weights:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             pixel_values=pixel_values, labels=labels, use_cache=use_cache)
            parts["answer"], logits = out.loss, out.logits
        if patch_classes is not None and "patch_classes" in self.weights:
            classes = self.patch_head(self._hidden[:, 1:, :]).float()  # drop the CLS position
            # empty patches dominate; weigh them down so atoms and bonds drive the vision tower
            weight = torch.ones(len(PATCH_CLASSES), device=classes.device)
            weight[EMPTY], weight[SINGLE] = 0.2, 0.5
            parts["patch_classes"] = F.cross_entropy(classes.reshape(-1, classes.shape[-1]), patch_classes.reshape(-1),
                                                     weight=weight)
        if graph is not None and self.graph_head is not None:
            hidden = self.tower(pixel_values=graph_pixels).last_hidden_state
            parts["graph"] = graphs.loss(self.graph_head, self.graph_head(hidden), graph)
        self.parts = {k: v.item() for k, v in parts.items()}
        loss = sum(self.weights.get(k, 0.0) * v for k, v in parts.items())  # a component not weighted is only logged
        return {"loss": loss, "logits": logits}

    def save_head(self, directory: str | Path, dtype: torch.dtype | None = None) -> None:
        state = {k: v.detach().to(dtype or v.dtype).cpu() for k, v in self.patch_head.state_dict().items()}
        torch.save(state, Path(directory) / HEAD_FILE)
        if self.graph_head is not None:
            self.graph_head.save(directory, dtype)

    def load_head(self, directory: str | Path) -> bool:
        """The heads saved beside a checkpoint's weights, as float32; False when there is no patch head."""
        if self.graph_head is not None:
            saved = graphs.GraphHead.load(directory, self.graph_head.atoms.in_features)
            if saved is not None:
                self.graph_head.load_state_dict(saved.state_dict())
        path = Path(directory) / HEAD_FILE
        if not path.is_file():
            return False
        saved = torch.load(path, map_location="cpu", weights_only=True)
        self.patch_head.load_state_dict({k: v.float() for k, v in saved.items()})
        return True


@torch.no_grad()
def evaluate_holdout(vlm, model: PatchSupervised, encoder, collator, drawings: list, truths: list[str],
                     questions: list[str], batch_size: int = 50) -> dict:
    """Greedy answers on clean hold-out drawings through the real inference path (`vlm.ask_batch`), plus image
    dependence: the answer loss with each picture swapped for another one's, minus the loss with the true ones."""
    predictions = []
    for i in range(0, len(drawings), batch_size):
        answers = vlm.ask_batch([([d.image], questions[0]) for d in drawings[i : i + batch_size]], max_new_tokens=96)
        predictions += [a.text for a in answers]
    result = summarize_smiles([score_smiles(t, extract_smiles(p)) for t, p in zip(truths, predictions)])
    rng = random.Random(0)
    probe = drawings[:64]
    samples = []
    for k, d in enumerate(probe):
        sample = encode_traced(encoder, f"probe-{k}", questions[rng.randrange(len(questions))], d)
        samples.append({"sample": sample, "skipped": []})
    batch = collator(samples)
    batch.pop("stats")
    device = next(model.parameters()).device
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    model(**batch)
    true_parts = dict(model.parts)
    model(**dict(batch, pixel_values=batch["pixel_values"].roll(1, 0), patch_classes=batch["patch_classes"].roll(1, 0)))
    shuffled = model.parts["answer"]
    result.update(loss_true=round(true_parts["answer"], 4), loss_shuffled=round(shuffled, 4),
                  image_dependence=round(shuffled - true_parts["answer"], 4),
                  patch_classes=round(true_parts.get("patch_classes", 0.0), 4),
                  examples=[dict(true=t, pred=p) for t, p in zip(truths[:3], predictions[:3])])
    return result


@torch.no_grad()
def evaluate_graphs(model: PatchSupervised, checks: dict[str, list], processor, batch_size: int = 16) -> dict:
    """Per check set (train.drawn.graph_holdout): the exact-SMILES share of the graph head, how many graphs
    made no molecule, and how many of the drawn atoms and bonds it found (recall) and how many of its atoms
    are drawn ones (precision), which move long before whole molecules come out right."""
    from chemvlm.chem.graph import GraphError, graph_smiles
    from chemvlm.data.graphs import placed

    was_training = model.training
    model.eval()
    result = {}
    for name, items in checks.items():
        right = invalid = 0
        counts = np.zeros(5)  # true atoms, predicted atoms, matched atoms, true bonds, matched bonds
        for i in range(0, len(items), batch_size):
            chunk = items[i : i + batch_size]
            pixels = processor.preprocess([image for image, _, _ in chunk]).to(next(model.parameters()).device)
            hidden = model.tower(pixel_values=pixels).last_hidden_state
            for (graph, _), (image, truth, drawn) in zip(graphs.read(model.graph_head, hidden), chunk):
                counts += graph_match(graph, placed(drawn, image.width, image.height, processor.tile_size))
                try:
                    right += graph_smiles(graph) == truth
                except GraphError:
                    invalid += 1
        if items:
            result.update({f"{name}_exact": round(right / len(items), 4), f"{name}_invalid": round(invalid / len(items), 4),
                           f"{name}_n": len(items), f"{name}_atom_recall": round(counts[2] / max(1, counts[0]), 4),
                           f"{name}_atom_precision": round(counts[2] / max(1, counts[1]), 4),
                           f"{name}_bond_recall": round(counts[4] / max(1, counts[3]), 4)})
    model.train(was_training)
    return result


def graph_match(found, truth) -> np.ndarray:
    """(true atoms, found atoms, matched atoms, true bonds, matched bonds): an atom is matched when a found
    atom of the same class lies within 0.4 bond lengths (nearest first, each used once); a bond when a found
    bond of the same class joins the two matched atoms."""
    from chemvlm.model.graph_head import same_bond

    n_true, n_found = len(truth.atoms), len(found.atoms)
    lengths = [np.linalg.norm(truth.points[i] - truth.points[j]) for i, j, _ in truth.bonds]
    radius = 0.4 * (float(np.median(lengths)) if lengths else 20.0)
    match: dict[int, int] = {}
    if n_true and n_found:
        dist = np.linalg.norm(truth.points[:, None] - found.points[None], axis=2)
        used = set()
        for t, f in sorted(np.argwhere(dist <= radius).tolist(), key=lambda p: dist[p[0], p[1]]):
            if t not in match and f not in used and truth.atoms[t] == found.atoms[f]:
                match[t] = f
                used.add(f)
    bonds = {(i, j): kind for i, j, kind in found.bonds}
    matched_bonds = 0
    for i, j, kind in truth.bonds:
        if i in match and j in match:
            a, b = match[i], match[j]
            matched_bonds += same_bond(kind, bonds.get((a, b)), bonds.get((b, a)))
    return np.array([n_true, n_found, len(match), len(truth.bonds), matched_bonds], float)
