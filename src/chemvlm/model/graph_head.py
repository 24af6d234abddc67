"""The graph head: a structure decoded directly from the vision tower's patch features, as MolScribe and
MolGrapher decode it (atoms at their positions, bonds between them), instead of SMILES token by token.

The vision tower reads one ink-view tile at the head's own side (`GraphHead.size`, larger than the VLM's tile:
the native InternVL tower interpolates its position embeddings), and for every patch the head predicts
- whether an atom is drawn there and which (chem.graph.ATOM_CLASSES: element, R group or superatom label),
- its formal charge and where in the patch it sits (an offset in [0, 1]²);
and for a pair of atoms (i, j) the bond between them (chem.graph.BOND_CLASSES, `none` included) from the
features of both atoms' patches, of the patch at their midpoint and their relative position. Pairs are read
in both orders (a wedge from i is a wedge_back from j) and averaged.

`targets` turns a drawn graph into the head's dense targets (training), `read` turns the head's outputs into
graphs with probabilities (inference); chem.graph builds and checks the molecule.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from chemvlm.model.checkpoint import CheckpointError
from chemvlm.chem.graph import ATOM_CLASSES, ATOM_INDEX, BOND_CLASSES, BOND_INDEX, CHARGES, Graph

HEAD_FILE = "graph_head.pt"
_SWAP = [BOND_INDEX[n.replace("_back", "") if n.endswith("_back") else (n + "_back" if n in ("wedge", "hash") else n)]
         for n in BOND_CLASSES]  # the class of the same bond read from its other end


def same_bond(kind: str, forward: str | None, backward: str | None) -> bool:
    """Whether a bond of class `kind` from i to j was found: as `forward` from i to j or `backward` from j to i."""
    if forward is not None:
        return forward == kind
    return backward is not None and BOND_CLASSES[_SWAP[BOND_INDEX[backward]]] == kind


class GraphHead(nn.Module):
    def __init__(self, hidden: int, size: int = 448, patch: int = 14, bond_hidden: int = 256):
        super().__init__()
        self.size, self.patch = size, patch
        self.atoms = nn.Linear(hidden, len(ATOM_CLASSES))
        self.charges = nn.Linear(hidden, len(CHARGES))
        self.offsets = nn.Linear(hidden, 2)
        self.bonds = nn.Sequential(nn.Linear(3 * hidden + 4, bond_hidden), nn.GELU(), nn.Linear(bond_hidden, len(BOND_CLASSES)))

    @property
    def grid(self) -> int:
        return self.size // self.patch

    def forward(self, hidden: torch.Tensor) -> dict:
        """Per-patch logits of the tower's last hidden states (B, 1 + grid², D) (the CLS position dropped)."""
        cells = hidden[:, 1:, :]
        return {"cells": cells, "atoms": self.atoms(cells), "charges": self.charges(cells),
                "offsets": torch.sigmoid(self.offsets(cells))}

    def pair_logits(self, cells: torch.Tensor, batch: torch.Tensor, xy_i: torch.Tensor, xy_j: torch.Tensor) -> torch.Tensor:
        """Bond logits of pairs: `batch` (P,) picture index, `xy_i`, `xy_j` (P, 2) positions in tile pixels."""
        grid = self.grid
        flat = cells.reshape(-1, cells.shape[-1])  # (B * grid², D)

        def at(xy: torch.Tensor) -> torch.Tensor:  # bilinear features at tile positions (patch centres exact)
            where = (xy / self.patch - 0.5).clamp(0, grid - 1)
            low = where.floor().long().clamp(max=grid - 2) if grid > 1 else where.floor().long()
            frac = where - low
            out = 0
            for dy in (0, 1):
                for dx in (0, 1):
                    col, row = (low[:, 0] + dx).clamp(max=grid - 1), (low[:, 1] + dy).clamp(max=grid - 1)
                    w = (frac[:, 0] if dx else 1 - frac[:, 0]) * (frac[:, 1] if dy else 1 - frac[:, 1])
                    out = out + w[:, None] * flat[batch * grid * grid + row * grid + col]
            return out

        delta = (xy_j - xy_i) / self.size
        geometry = torch.cat([delta, delta.norm(dim=1, keepdim=True), torch.ones_like(delta[:, :1])], 1)
        return self.bonds(torch.cat([at(xy_i), at(xy_j), at((xy_i + xy_j) / 2), geometry], 1))

    def save(self, directory: str | Path, dtype: torch.dtype | None = None) -> None:
        state = {k: v.detach().to(dtype or v.dtype).cpu() for k, v in self.state_dict().items()}
        torch.save({"size": self.size, "patch": self.patch, "atom_classes": list(ATOM_CLASSES),
                    "bond_classes": list(BOND_CLASSES), "state": state}, Path(directory) / HEAD_FILE)

    @classmethod
    def load(cls, directory: str | Path, hidden: int) -> "GraphHead | None":
        """The head saved beside a checkpoint's weights, as float32; None when there is none."""
        path = Path(directory) / HEAD_FILE
        if not path.is_file():
            return None
        saved = torch.load(path, map_location="cpu", weights_only=True)
        problem = next((key for key, classes in (("atom_classes", ATOM_CLASSES), ("bond_classes", BOND_CLASSES))
                        if key in saved and saved[key] != list(classes)), None)
        head = cls(hidden, saved["size"], saved["patch"])
        try:
            if problem is None:
                head.load_state_dict({k: v.float() for k, v in saved["state"].items()})
        except RuntimeError:
            problem = "classes"
        if problem is not None:
            raise CheckpointError(f"{path}: a graph head for other {problem.replace('_', ' ')} than this version "
                                  "reads; train it again")
        return head


# ---- drawn graph -> dense targets (training) -------------------------------------------------------------
def targets(graph: Graph, size: int, patch: int, rng: np.random.Generator | None = None) -> dict:
    """The head's targets for a graph placed in the tile (data.graphs.placed): per-patch atom class, charge
    and offset, and labelled pairs (every bond in both orders, plus unbonded pairs of nearby atoms, which the
    head must call `none`). Two atoms in one patch keep the first (`collisions` counts the others)."""
    grid = size // patch
    atoms = np.zeros(grid * grid, np.int64)
    charges = np.full(grid * grid, CHARGES.index(0), np.int64)
    offsets = np.zeros((grid * grid, 2), np.float32)
    cell_of, collisions = {}, 0
    for n, ((x, y), name, charge) in enumerate(zip(graph.points, graph.atoms, graph.charges)):
        col, row = min(grid - 1, max(0, int(x // patch))), min(grid - 1, max(0, int(y // patch)))
        cell = row * grid + col
        if atoms[cell]:
            collisions += 1
            continue
        atoms[cell] = ATOM_INDEX[name]
        charges[cell] = CHARGES.index(charge) if charge in CHARGES else CHARGES.index(0)
        offsets[cell] = (x / patch - col, y / patch - row)
        cell_of[n] = cell
    pairs, classes = [], []
    bonded = set()
    for i, j, kind in graph.bonds:
        if i in cell_of and j in cell_of:
            pairs += [(i, j), (j, i)]
            classes += [BOND_INDEX[kind], _SWAP[BOND_INDEX[kind]]]
            bonded |= {(i, j), (j, i)}
    kept = np.array(sorted(cell_of))
    if len(kept) > 1:
        xy = graph.points[kept]
        dist = np.linalg.norm(xy[:, None] - xy[None], axis=2)
        bond_length = np.median([np.linalg.norm(graph.points[i] - graph.points[j]) for i, j in bonded]) if bonded else patch * 2
        near = np.argwhere((dist < 2.2 * bond_length) & (dist > 0))
        for a, b in near:
            i, j = int(kept[a]), int(kept[b])
            if (i, j) not in bonded:
                pairs.append((i, j))
                classes.append(BOND_INDEX["none"])
    xy_pairs = np.array([[graph.points[i], graph.points[j]] for i, j in pairs], np.float32).reshape(-1, 2, 2)
    return {"atoms": atoms, "charges": charges, "offsets": offsets, "pairs": xy_pairs,
            "pair_classes": np.array(classes, np.int64), "collisions": collisions}


def loss(head: GraphHead, out: dict, batch_targets: list[dict]) -> torch.Tensor:
    """Atom classes (no-atom patches weighed down), charges and offsets where atoms are, bond classes of pairs."""
    device = out["atoms"].device
    atoms = torch.stack([torch.as_tensor(t["atoms"]) for t in batch_targets]).to(device)
    charges = torch.stack([torch.as_tensor(t["charges"]) for t in batch_targets]).to(device)
    offsets = torch.stack([torch.as_tensor(t["offsets"]) for t in batch_targets]).to(device)
    weight = torch.ones(len(ATOM_CLASSES), device=device)
    weight[0] = 0.1
    total = F.cross_entropy(out["atoms"].reshape(-1, len(ATOM_CLASSES)).float(), atoms.reshape(-1), weight=weight)
    present = atoms > 0
    if present.any():
        total = total + F.cross_entropy(out["charges"][present].float(), charges[present])
        total = total + 5 * F.l1_loss(out["offsets"][present].float(), offsets[present])
    pictures = [torch.full((len(t["pair_classes"]),), k, dtype=torch.long) for k, t in enumerate(batch_targets)]
    if sum(len(p) for p in pictures):
        batch = torch.cat(pictures).to(device)
        xy = torch.cat([torch.as_tensor(t["pairs"]).reshape(-1, 2, 2) for t in batch_targets]).to(device)
        classes = torch.cat([torch.as_tensor(t["pair_classes"]) for t in batch_targets]).to(device)
        logits = head.pair_logits(out["cells"], batch, xy[:, 0], xy[:, 1]).float()
        total = total + F.cross_entropy(logits, classes)
    return total


# ---- head outputs -> graphs (inference) ------------------------------------------------------------------
@torch.no_grad()
def read(head: GraphHead, hidden: torch.Tensor, atom_threshold: float = 0.5, neighbours: int = 6) -> list[tuple[Graph, float]]:
    """(graph in tile pixels, probability that it is read right) per picture: atoms where a patch's best
    class is an atom with probability >= `atom_threshold`; bonds among each atom's nearest `neighbours`
    within 2.5 typical bond lengths, read in both orders. The probability multiplies every decision's: each
    atom's class and charge, each bond's class, each nearby pair's `none`."""
    out = head(hidden)
    atom_p = out["atoms"].float().softmax(-1)
    charge_p = out["charges"].float().softmax(-1)
    results = []
    grid, patch = head.grid, head.patch
    for k in range(hidden.shape[0]):
        p_atom, cls = atom_p[k].max(-1)
        cells = torch.nonzero((cls > 0) & (p_atom >= atom_threshold)).flatten()
        if not len(cells):
            results.append((Graph(np.zeros((0, 2), np.float32), []), 0.0))
            continue
        rows, cols = cells // grid, cells % grid
        xy = torch.stack([cols, rows], 1).float() * patch + out["offsets"][k, cells].float() * patch
        log_p = float(p_atom[cells].log().sum())
        p_charge, charge = charge_p[k, cells].max(-1)
        log_p += float(p_charge.log().sum())
        n = len(cells)
        pairs = []
        if n > 1:
            dist = torch.cdist(xy, xy)
            dist.fill_diagonal_(math.inf)
            typical = float(dist.min(1).values.median())
            nearest = dist.topk(min(neighbours, n - 1), largest=False)
            rows = torch.arange(n)[:, None].expand_as(nearest.indices)
            close = nearest.values <= 2.5 * typical
            ends = torch.stack([rows[close], nearest.indices[close]], 1).sort(1).values
            pairs = [tuple(p) for p in torch.unique(ends, dim=0).tolist()]
        bonds = []
        if pairs:
            a = torch.tensor([p[0] for p in pairs])
            b = torch.tensor([p[1] for p in pairs])
            batch = torch.full((len(pairs),), k, dtype=torch.long)
            forward = head.pair_logits(out["cells"], batch, xy[a], xy[b]).float().softmax(-1)
            backward = head.pair_logits(out["cells"], batch, xy[b], xy[a]).float().softmax(-1)[:, _SWAP]
            probs = (forward + backward) / 2
            p_bond, kind = probs.max(-1)
            log_p += float(p_bond.clamp_min(1e-9).log().sum())
            bonds = [(int(i), int(j), BOND_CLASSES[int(c)]) for i, j, c in zip(a, b, kind) if c > 0]
        graph = Graph(xy.numpy().astype(np.float32), [ATOM_CLASSES[int(c)] for c in cls[cells]],
                      [CHARGES[int(c)] for c in charge], bonds)
        results.append((graph, math.exp(log_p)))
    return results
