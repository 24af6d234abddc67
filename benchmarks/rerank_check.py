"""Synthetic check of chem.rerank: the right SMILES against 1-3 mutants (atom changed, dropped, added, bond
order changed) for 80 molecules of ../shared/data/molecules.csv.gz, the image drawn in another layout and style."""
import csv, gzip, io, random, time, sys
import numpy as np
from PIL import Image
from rdkit import Chem
from rdkit.Chem import rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D
from chemvlm.chem import canonical_smiles, parse_smiles
from chemvlm.chem import rerank

from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "molecules.csv.gz"  # ../shared beside the checkout
rows = csv.DictReader(io.TextIOWrapper(gzip.open(CORPUS), encoding='utf-8'))
smiles = []
for r in rows:
    m = parse_smiles(r['smiles'])
    if m is not None and 10 <= m.GetNumHeavyAtoms() <= 35 and '.' not in r['smiles']:
        smiles.append(Chem.MolToSmiles(m))
    if len(smiles) >= 5000: break
rng = random.Random(0)
smiles = rng.sample(smiles, 80)

def mutants(s):
    out = set()
    mol = Chem.MolFromSmiles(s)
    for _ in range(30):
        rw = Chem.RWMol(mol)
        kind = rng.choice(['element', 'drop', 'add', 'bond'])
        try:
            if kind == 'element':
                a = rw.GetAtomWithIdx(rng.randrange(rw.GetNumAtoms()))
                a.SetAtomicNum(rng.choice([6, 7, 8, 17]))
            elif kind == 'drop':
                ends = [a.GetIdx() for a in rw.GetAtoms() if a.GetDegree() == 1]
                rw.RemoveAtom(rng.choice(ends))
            elif kind == 'add':
                i = rng.randrange(rw.GetNumAtoms()); j = rw.AddAtom(Chem.Atom(rng.choice([6, 8])))
                rw.AddBond(i, j, Chem.BondType.SINGLE)
            else:
                b = rw.GetBondWithIdx(rng.randrange(rw.GetNumBonds()))
                if b.GetIsAromatic(): continue
                b.SetBondType(Chem.BondType.DOUBLE if b.GetBondType() == Chem.BondType.SINGLE else Chem.BondType.SINGLE)
            c = canonical_smiles(Chem.MolToSmiles(rw))
            if c and c != s: out.add(c)
        except Exception:
            pass
        if len(out) >= 3: break
    return list(out)

def target_image(s):
    mol = Chem.MolFromSmiles(s)
    rdDepictor.SetPreferCoordGen(False); rdDepictor.Compute2DCoords(mol); rdDepictor.SetPreferCoordGen(True)
    d = rdMolDraw2D.MolDraw2DCairo(500, 350)
    o = d.drawOptions(); o.bondLineWidth = 3; o.useBWAtomPalette(); o.rotate = rng.choice([0, 15, 90])
    rdMolDraw2D.PrepareAndDrawMolecule(d, mol, kekulize=True); d.FinishDrawing()
    im = Image.open(io.BytesIO(d.GetDrawingText())).convert('L').point(lambda v: 255 if v > 160 else 0).convert('1')
    return im

stats = {'euler': 0, 'pieces+holes': 0, 'n': 0, 'random': 0}
times = []
for s in smiles:
    cands = [s] + mutants(s)
    if len(cands) < 2: continue
    im = target_image(s)
    t = time.perf_counter()
    target = rerank.ink_mask(im); et = rerank.euler_number(target); pt, ht = rerank.shape_counts(target)
    res = []
    for c in cands:
        w, h = im.size; sc = max(1.0, 300 / max(w, h))
        dr = rerank.render(c, (int(w*sc), int(h*sc))); pd, hd = rerank.shape_counts(dr)
        res.append((abs(et - rerank.euler_number(dr)), abs(pt - pd) + abs(ht - hd)))
    times.append((time.perf_counter() - t) / len(cands))
    stats['n'] += 1
    stats['random'] += 1 / len(cands)
    # ties count as fractional wins
    for key, f in [('euler', lambda r: r[0]), ('pieces+holes', lambda r: r[1])]:
        vals = [f(r) for r in res]; best = min(vals); winners = [i for i, v in enumerate(vals) if v == best]
        stats[key] += (0 in winners) / len(winners)
print({k: round(v, 1) for k, v in stats.items()}, 'ms/candidate', round(1000 * np.median(times), 1))
