"""Materialised builds: rows → sharded JSONL + images in tar shards + InternVL meta JSON + dataset card.

Layout of DIR:
  rows.jsonl / holdout_rows.jsonl   the lazy rows (train / held-out skeletons), enough to render on the fly
  shards/NAME-00000.tar + .jsonl    images and their conversations; a shard is written to a temporary name
                                    and renamed when complete, so a killed build keeps every finished shard
  NAME.jsonl, meta.json             all shard annotations in order; {name: {root, annotation, repeat_time, length}}
  report.json, README.md, contact_sheet.png
Images are referenced as "shards/NAME-00000.tar/00000042.png": `open_image` reads them without unpacking.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import random
import tarfile
from collections import Counter
from importlib import resources
from pathlib import Path

from PIL import Image

from chemvlm.data.config import BuildConfig
from chemvlm.data.decontam import Decontaminator, keys_from_benchmarks, read_keys
from chemvlm.data.filters import Deduplicator
from chemvlm.data.reaction import reaction_label
from chemvlm.data.rows import Row, render_row
from chemvlm.data.shards import in_shard, read_member
from chemvlm.data.sources import SourceError, SourceReport, brics_molecules, rdkit_sets, read_file
from chemvlm.data.split import skeleton_key, split_of


def _source_entries(paths: list[str], report: SourceReport, kind: str):
    for path in paths:
        if path == "default":
            yield from read_file(resources.files("chemvlm.data.corpus").joinpath(f"{kind}.csv"), report, "default")
        elif path == "rdkit":
            if kind == "molecules":
                yield from rdkit_sets()
        else:
            yield from read_file(path, report)


def _pick(weights: dict, rng: random.Random) -> str:
    names = sorted(weights)
    return rng.choices(names, [weights[n] for n in names])[0]


def plan_rows(config: BuildConfig) -> tuple[list[Row], list[Row], dict]:
    """Train rows, held-out rows and a report (counts, bad rows with file:line, decontamination)."""
    keys = keys_from_benchmarks(config.benchmarks_dir) if config.benchmarks_dir else read_keys(config.benchmark_keys)
    clean, dedup, keep = Decontaminator(keys), Deduplicator(), config.molecule_filter()
    report = SourceReport()
    rejected: Counter = Counter()
    molecules: list[tuple[str, str]] = []
    for entry in _source_entries(config.molecules, report, "molecules"):
        canonical, why = keep.apply(entry.smiles)
        if canonical is None:
            rejected[why.split(" ")[-1] if why[0].isdigit() else why] += 1
        elif dedup.first(canonical) and clean.is_clean(canonical):
            molecules.append((canonical, entry.name))
    if config.brics:
        for entry in brics_molecules([m for m, _ in molecules[:5000]], config.brics, config.seed):
            canonical, _ = keep.apply(entry.smiles)
            if canonical and dedup.first(canonical) and clean.is_clean(canonical):
                molecules.append((canonical, ""))
    reactions = []
    for entry in _source_entries(config.reactions, report, "reactions"):
        if dedup.first(entry.smiles) and clean.is_clean(entry.smiles):
            reactions.append(reaction_label(entry.smiles, stereo=keep.stereo == "keep"))
    if config.max_molecules:
        molecules = molecules[: config.max_molecules]
    if config.max_reactions:
        reactions = reactions[: config.max_reactions]

    rng = random.Random(config.seed)
    rows: dict[str, list[Row]] = {"train": [], "holdout": []}
    items = [(m, n, config.tasks, config.samples_per_molecule) for m, n in molecules]
    items += [(r, "", config.reaction_tasks, config.samples_per_reaction) for r in reactions]
    for smiles, name, tasks, repeats in items:
        side = split_of(skeleton_key(smiles) or smiles, config.holdout, salt=str(config.seed))
        for _ in range(repeats):
            task = _pick(tasks, rng)
            family = "rdkit" if task in config.reaction_tasks else _pick(config.families, rng)
            augment = 0.0 if rng.random() < config.clean_share else config.augment
            if task in config.reaction_tasks:
                augment = min(augment, 0.3)  # schemes are wide, so their molecules are small: degrade gently
            number = len(rows["train"]) + len(rows["holdout"])
            rows[side].append(Row(f"{config.name}-{number:08d}", smiles, task, _pick(config.languages, rng), family,
                                  rng.getrandbits(63), augment, config.size, name))
    if not molecules and not reactions:
        raise SourceError(f"no usable molecule or reaction in {', '.join(config.molecules + config.reactions) or 'no sources'}"
                          f" ({report.read} rows read, {report.bad_count} bad, {sum(rejected.values())} filtered out)")
    summary = {
        "rows_read": report.read, "bad_rows": report.bad_count, "bad_row_examples": [str(b) for b in report.bad],
        "bad_rows_by_file": report.by_file,
        "filtered_out": dict(rejected), "molecules": len(molecules), "reactions": len(reactions),
        "decontaminated": clean.removed, "benchmark_keys": len(keys),
        "train_rows": len(rows["train"]), "holdout_rows": len(rows["holdout"]),
    }
    return rows["train"], rows["holdout"], summary


def _write_rows(rows: list[Row], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in rows)
    os.replace(tmp, path)


def _render_shard(job: tuple[Path, str, int, list[dict], str]) -> tuple[int, int, list[str]]:
    """Render one shard to its tar + jsonl (temporary names, renamed when done). Returns (shard, samples, errors)."""
    directory, name, index, row_dicts, fmt = job
    stem = directory / f"{name}-{index:05d}"
    tar_tmp, jsonl_tmp = stem.with_suffix(".tar.tmp"), stem.with_suffix(".jsonl.tmp")
    errors, written = [], 0
    with tarfile.open(tar_tmp, "w") as tar, open(jsonl_tmp, "w", encoding="utf-8") as annotations:
        for row_dict in row_dicts:
            row = Row.from_dict(row_dict)
            try:
                image, sample = render_row(row)
            except Exception as err:  # one bad molecule must not cost the shard: count it and go on
                errors.append(f"row {row.id} ({row.smiles[:60]}): {type(err).__name__}: {err}")
                continue
            buffer = io.BytesIO()
            image.save(buffer, "PNG" if fmt == "png" else "JPEG", **({"compress_level": 1} if fmt == "png" else {"quality": 90}))
            member = tarfile.TarInfo(f"{row.id}.{fmt}")
            member.size, member.mtime = buffer.tell(), 0  # mtime 0: identical bytes for identical builds
            buffer.seek(0)
            tar.addfile(member, buffer)
            sample["image"] = f"shards/{stem.name}.tar/{row.id}.{fmt}"
            annotations.write(json.dumps(sample, ensure_ascii=False) + "\n")
            written += 1
    os.replace(jsonl_tmp, stem.with_suffix(".jsonl"))
    os.replace(tar_tmp, stem.with_suffix(".tar"))  # the tar last: its presence marks the shard finished
    return index, written, errors


def _rendered(jobs: list, workers: int, ray_address: str | None, ray_cpus: int | None):
    """_render_shard's results as shards are done: on a Ray cluster, in a pool of processes, or here."""
    if ray_address is not None and jobs:
        from chemvlm.cluster import connected, run_tasks

        with connected(ray_address, num_cpus=ray_cpus) as ray:
            yield from run_tasks(ray, _render_shard, jobs)
    elif workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("fork" if os.name == "posix" else "spawn").Pool(workers) as pool:
            yield from pool.imap_unordered(_render_shard, jobs)
    else:
        yield from map(_render_shard, jobs)


def open_image(root: str | Path, path: str) -> Image.Image:
    """An image from a build: "shards/X.tar/member" is read from inside the tar, anything else from disk."""
    full = Path(root) / path
    return Image.open(io.BytesIO(read_member(full)) if in_shard(path) else full).convert("RGB")


def build(config: BuildConfig, out: str | Path, shard_range: tuple[int, int] | None = None, progress=None,
          ray_address: str | None = None, ray_cpus: int | None = None) -> dict:
    """Render every shard of the config into `out` (resuming: finished shards are kept). `shard_range`
    (start, stop) builds only those shards, so N machines can build disjoint parts of one dataset.
    `ray_address` renders the shards as tasks on a Ray cluster instead of `config.workers` processes
    (chemvlm.cluster: "local" starts one with `ray_cpus` CPUs); the files are the same."""
    out = Path(out)
    train, holdout, summary = plan_rows(config)  # before making `out`: bad sources leave nothing behind
    (out / "shards").mkdir(parents=True, exist_ok=True)
    _write_rows(train, out / "rows.jsonl")
    _write_rows(holdout, out / "holdout_rows.jsonl")
    shards = [train[i : i + config.shard_size] for i in range(0, len(train), config.shard_size)]
    start, stop = shard_range or (0, len(shards))
    todo = [i for i in range(start, min(stop, len(shards))) if not (out / "shards" / f"{config.name}-{i:05d}.tar").exists()]
    # an absolute folder: a Ray worker's current directory is not this one
    jobs = [(out.resolve() / "shards", config.name, i, [r.to_dict() for r in shards[i]], config.image_format)
            for i in todo]
    errors: list[str] = []
    if progress:
        progress.start(sum(len(job[3]) for job in jobs), skipped=len(range(start, min(stop, len(shards)))) - len(todo))
    for _, count, errs in _rendered(jobs, config.workers, ray_address, ray_cpus):
        errors += errs
        progress and progress.advance(count + len(errs))
    summary["render_errors"] = len(errors)
    summary["render_error_examples"] = errors[:50]
    summary["shards"] = len(shards)
    if all((out / "shards" / f"{config.name}-{i:05d}.tar").exists() for i in range(len(shards))):
        finish(config, out, summary)
    return summary


def finish(config: BuildConfig, out: Path, summary: dict) -> None:
    """Concatenate shard annotations, write the meta JSON, the card and the contact sheet."""
    annotation = out / f"{config.name}.jsonl"
    counts = {"task": Counter(), "lang": Counter(), "family": Counter(), "degradations": Counter()}
    samples = []
    with open(annotation.with_suffix(".tmp"), "w", encoding="utf-8") as merged:
        for i in range(summary["shards"]):
            with open(out / "shards" / f"{config.name}-{i:05d}.jsonl", encoding="utf-8") as shard:
                for line in shard:
                    merged.write(line)
                    sample = json.loads(line)
                    meta = sample["meta"]
                    for key in ("task", "lang", "family"):
                        counts[key][meta[key]] += 1
                    counts["degradations"].update(meta["degradations"] or ["none"])
                    samples.append(sample)
    os.replace(annotation.with_suffix(".tmp"), annotation)
    meta = {config.name: {"root": str(out.resolve()), "annotation": str(annotation.resolve()), "repeat_time": 1,
                          "length": len(samples)}}
    for extra in config.mix:
        meta[extra["name"]] = {"root": extra.get("root", ""), "annotation": extra["annotation"],
                               "repeat_time": extra.get("repeat_time", 1), "length": extra.get("length") or _count_lines(extra["annotation"])}
    (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    summary["samples"] = len(samples)
    summary["counts"] = {k: dict(sorted(v.items())) for k, v in counts.items()}
    summary["annotation_sha256"] = hashlib.sha256(annotation.read_bytes()).hexdigest()
    (out / "report.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _contact_sheet(out, samples, config.seed)
    (out / "README.md").write_text(_card(config, summary))


def _count_lines(path: str) -> int:
    if not Path(path).is_file():
        raise FileNotFoundError(f"mix annotation {path}: no such file")
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle)


def _contact_sheet(out: Path, samples: list[dict], seed: int, n: int = 16, cell: int = 224) -> None:
    chosen = random.Random(seed).sample(samples, min(n, len(samples)))
    sheet = Image.new("RGB", (cell * 4, cell * ((len(chosen) + 3) // 4 or 1)), "white")
    for k, sample in enumerate(chosen):
        image = open_image(out, sample["image"])
        image.thumbnail((cell - 4, cell - 4))
        sheet.paste(image, ((k % 4) * cell + 2, (k // 4) * cell + 2))
    sheet.save(out / "contact_sheet.png")


def _card(config: BuildConfig, summary: dict) -> str:
    table = lambda counts: "\n".join(f"| {k} | {v} |" for k, v in counts.items())
    lines = [
        f"# {config.name}", "",
        f"Built by `chemvlm data build` with seed {config.seed}: {summary['samples']} samples in "
        f"{summary['shards']} shards, InternVL conversation format (`meta.json`, `{config.name}.jsonl`).", "",
        f"- molecules: {summary['molecules']}, reactions: {summary['reactions']}",
        f"- rows read: {summary['rows_read']}, bad rows skipped: {summary['bad_rows']}, render errors: {summary['render_errors']}",
        f"- filtered out: {summary['filtered_out']}",
        f"- removed as benchmark molecules ({summary['benchmark_keys']} keys): {summary['decontaminated']}",
        f"- held-out rows (InChIKey skeleton split, share {config.holdout}): {summary['holdout_rows']} in `holdout_rows.jsonl`", "",
    ]
    for key in ("task", "lang", "family", "degradations"):
        lines += [f"| {key} | samples |", "| --- | --- |", table(summary["counts"][key]), ""]
    lines += ["![random samples](contact_sheet.png)", ""]
    if summary["bad_row_examples"]:
        lines += ["Bad rows (first 50):", ""] + [f"- {b}" for b in summary["bad_row_examples"]] + [""]
    return "\n".join(lines)
