"""Reaction schemes drawn with RDKit: reactants + … → products, reagents above the arrow when given."""

from __future__ import annotations

import io

from PIL import Image
from rdkit import Chem
from rdkit.Chem import rdChemReactions
from rdkit.Chem.Draw import rdMolDraw2D

from chemvlm.data.render import Style, rdkit_options


def reaction_label(reaction: str, stereo: bool = True) -> str:
    """Canonical "reactants>agents>products" (each side's molecules canonical, in canonical order)."""
    sides = reaction.split(">")
    if len(sides) != 3:
        raise ValueError(f"not a reaction SMILES (need reactants>agents>products): {reaction!r}")
    out = []
    for side in sides:
        mol = Chem.MolFromSmiles(side) if side else None
        if side and mol is None:
            raise ValueError(f"invalid SMILES {side!r} in reaction {reaction!r}")
        if mol is not None and not stereo:
            Chem.RemoveStereochemistry(mol)
        out.append(Chem.MolToSmiles(mol) if mol is not None else "")
    return ">".join(out)


def render_reaction(reaction: str, style: Style) -> tuple[Image.Image, str]:
    """(image, label) of a reaction scheme; the label is the canonical reaction SMILES drawn."""
    label = reaction_label(reaction, stereo=style.stereo)
    rxn = rdChemReactions.ReactionFromSmarts(label, useSmiles=True)
    # schemes are wide: a 448-px-tall strip would squash the molecules
    width = max(style.width, 300 * (rxn.GetNumReactantTemplates() + rxn.GetNumProductTemplates()))
    drawer = rdMolDraw2D.MolDraw2DCairo(width, style.height)
    rdkit_options(drawer.drawOptions(), style)
    drawer.drawOptions().rotate = 0  # a rotated scheme reads right to left
    drawer.DrawReaction(rxn)
    drawer.FinishDrawing()
    return Image.open(io.BytesIO(drawer.GetDrawingText())).convert("RGB"), label
