"""Debian's `osra` (GPL, a separate program) run as a subprocess: classical optical structure recognition."""

from __future__ import annotations

import hashlib
import io
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from chemvlm.chem.answer import answer_question
from chemvlm.chem.benzene import complete_benzenes
from chemvlm.engines.base import Engine, EngineError, Query
from chemvlm.engines.osra_labels import restore_r_groups, table_file
from chemvlm.chem.smiles import unreadable_atoms
from chemvlm.engines.recognition import no_structure, read_structures
from chemvlm.record import Prediction
from chemvlm.vision import ImageLoadError, load_image
from chemvlm.vision.loading import reads_as_loaded
from chemvlm.vision.suffixes import IMAGE_SUFFIXES

# Image files osra is given as they are (1-bit scans stay 1-bit); others (WebP) are converted to PNG first.
OSRA_READS = IMAGE_SUFFIXES - {".webp"}

# Named osra runs that give extra candidates: (extra arguments, upscale factor of the input image).
# `default` is plain `osra IMAGE`; the others are measured in benchmarks/results/ensemble-ocsr.md.
VARIANTS = {
    "default": ((), 1),
    "x2": ((), 2),  # the image upscaled twice: small scans get more pixels per bond
    "jaggy": (("-j",), 1),  # osra's extra thinning for low-quality documents
    "adaptive": (("-i",), 1),  # adaptive thresholding
    "unpaper": (("-u", "1"), 1),  # one round of unpaper clean-up
}


def parse_osra_output(text: str) -> str:
    """osra prints one SMILES per structure it finds; the longest is the main structure (as the
    published osra baseline on ocsr-real takes it). Empty when nothing was found."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return max(lines, key=len) if lines else ""


def parse_osra_confidence(text: str) -> list[tuple[str, float]]:
    """(SMILES, confidence) per line of `osra -p` output, in osra's order."""
    found = []
    for line in text.splitlines():
        smiles, _, confidence = line.strip().rpartition(" ")
        try:
            found.append((smiles, float(confidence)))
        except ValueError:
            continue  # not a "SMILES confidence" line
    return found


# osra processes still running. They run from worker threads, which an interrupt in the main thread does not
# stop, so `kill_running` ends them (the CLI calls it on SIGTERM); otherwise the run would wait for
# them, and a SIGTERM, which reaches this process only, would leave them behind.
_running: set[subprocess.Popen] = set()
_running_lock = threading.RLock()  # re-entrant: kill_running runs from a signal handler
_stopping = False


def _run_osra(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        with _running_lock:
            _running.add(process)
            if _stopping:  # started just as the program was interrupted, or later by a queued item
                process.kill()
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except BaseException:  # a timeout or an interrupt: the process must not outlive the call
            process.kill()
            raise
        finally:
            with _running_lock:
                _running.discard(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def kill_running() -> None:
    """Kill every osra process this program started that is still running, and every one it starts from now
    on: the program is ending."""
    global _stopping
    with _running_lock:
        _stopping = True
        for process in _running:
            process.kill()


def _failure(done: subprocess.CompletedProcess) -> str:
    """osra's last line of complaint, or how it ended ("crashed (SIGABRT)", not "-6")."""
    last = done.stderr.strip().splitlines()[-1:]
    if last:
        return last[0]
    if done.returncode < 0:
        return f"it crashed ({signal.Signals(-done.returncode).name})"
    return f"it exited with status {done.returncode}"


@dataclass(frozen=True)
class OsraOptions:
    timeout: float = 60.0  # seconds per osra run
    workers: int = 2  # osra processes at once (osra is single-threaded)
    executable: str = "osra"
    variants: tuple = ("default",)  # the osra runs per picture, by name (VARIANTS); the first answers
    cache_dir: str | Path | None = None  # keep osra's output per image content and variant
    labels: str = "osra"  # osra's own superatom table, or "extended" (engines.osra_labels)
    complete_benzenes: bool = False  # give back the double bond of a benzene read with one missing (chem.benzene)


class OsraEngine(Engine):
    name = "osra"
    Options = OsraOptions

    def __init__(self, spec, **options):
        super().__init__(spec, **options)
        options = self.options
        self.executable = shutil.which(options.executable)
        if self.executable is None:
            raise EngineError(f"{options.executable}: program not found; install it with `apt-get install -y osra`")
        unknown = [v for v in options.variants if v not in VARIANTS]
        if unknown or not options.variants:
            raise EngineError(f"osra variant(s) {unknown or options.variants}: choose from {', '.join(VARIANTS)}")
        self.variants = tuple(options.variants)
        if options.labels not in ("osra", "extended"):
            raise EngineError(f"osra labels {options.labels!r}: choose osra or extended")
        table = table_file(self.executable) if options.labels == "extended" else None
        self.label_args = ("-a", str(table)) if table is not None else ()
        self.cache_dir = Path(options.cache_dir) if options.cache_dir else None
        self.timeout = options.timeout
        self.workers = max(1, options.workers)
        self.batch_size = self.workers

    def run(self, image, variant: str = "default", cached_only: bool = False) -> str | None:
        """osra's standard output for one image, `-p` added so every line ends with osra's confidence.
        With a cache directory the output is kept per image content and variant; `cached_only` gives None
        instead of running osra when it is not there."""
        args, scale = VARIANTS[variant]
        args = (*args, *self.label_args)
        direct = isinstance(image, (str, Path)) and not str(image).startswith("data:")
        label = str(image) if direct else "<image>"
        picture = load_image(image)  # the same validation and clear errors as every other engine
        as_is = direct and scale == 1 and Path(image).suffix.lower() in OSRA_READS and reads_as_loaded(image)
        if as_is:
            data = Path(image).read_bytes()  # osra reads the file itself (1-bit scans stay 1-bit)
        else:
            if scale != 1:
                picture = picture.convert("L").resize((picture.width * scale, picture.height * scale), resample=3)
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            data = buffer.getvalue()
        key = hashlib.sha256(data + repr(args).encode()).hexdigest()[:32]
        cached = self.cache_dir / f"{key}.txt" if self.cache_dir else None
        if cached is not None and cached.is_file():
            return cached.read_text(encoding="utf-8")
        if cached_only:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(image) if as_is else Path(tmp) / "image.png"
            if not as_is:
                path.write_bytes(data)
            try:
                done = _run_osra([self.executable, *args, "-p", str(path)], self.timeout)
            except subprocess.TimeoutExpired:
                raise EngineError(f"osra took longer than {self.timeout:g} s on {label}") from None
        if done.returncode != 0:
            raise EngineError(f"osra failed on {label}: {_failure(done)}")
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(done.stdout, encoding="utf-8")
        return done.stdout

    def structures(self, image, variant: str = "default") -> list[tuple[str, float]]:
        """(SMILES, osra confidence) per structure one variant run prints, numbered R groups restored and,
        with `complete_benzenes`, broken benzenes completed."""
        found = [(restore_r_groups(s), c) for s, c in parse_osra_confidence(self.run(image, variant))]
        if self.options.complete_benzenes:
            found = [(complete_benzenes(s), c) for s, c in found]
        return found

    def recognise(self, image, variant: str = "default") -> str:
        """SMILES for one image: the longest structure osra reports (empty when none)."""
        return max((s for s, _ in self.structures(image, variant)), key=len, default="")

    def _main_structure(self, image, variant: str) -> tuple[str, str, float] | None:
        """(variant, SMILES, osra confidence) of the longest structure one variant run prints, or None."""
        lines = self.structures(image, variant)
        if not lines:
            return None
        smiles, confidence = max(lines, key=lambda line: len(line[0]))
        return None if unreadable_atoms(smiles) else (variant, smiles, confidence)

    def scored_candidates(self, image) -> list[tuple[str, str, float]]:
        """(variant, SMILES, osra confidence) of the main structure of every variant run."""
        return [found for v in self.variants if (found := self._main_structure(image, v)) is not None]

    def candidates(self, queries: list[Query]) -> list[list[str]]:
        for query in queries:
            if len(query.images) != 1:
                raise EngineError(f"{query.id}: osra reads exactly one image per question, got {len(query.images)}")
        # every (picture, variant) run is a job of its own: one picture's variants use both cores too
        jobs = [(query.images[0], variant) for query in queries for variant in self.variants]
        with ThreadPoolExecutor(self.workers) as pool:
            found = list(pool.map(lambda job: self._main_structure(*job), jobs))
        n = len(self.variants)
        return [[f[1] for f in found[i * n : (i + 1) * n] if f is not None] for i in range(len(queries))]

    def _one(self, query: Query) -> Prediction:
        start = time.perf_counter()
        if len(query.images) != 1:
            return self.failed(query, f"osra reads exactly one image per question, got {len(query.images)}")
        try:
            smiles = self.recognise(query.images[0], self.variants[0])
        except (ImageLoadError, EngineError) as err:
            return self.failed(query, str(err), time.perf_counter() - start)
        # marks osra could not read, inside a ring or chain: none of its right ocsr-real answers has one
        unread = unreadable_atoms(smiles)
        if unread:
            seconds = time.perf_counter() - start
            return no_structure(self, query, f"osra could not read {unread} of the atoms it found", seconds)
        answer = answer_question(smiles, query.question)
        return Prediction.from_answer(
            id=query.id, image=query.image_label, question=query.question, answer=answer, smiles=smiles,
            engine=self.name, model=str(self.spec), seconds=time.perf_counter() - start,
        )

    def predict(self, queries: list[Query]) -> list[Prediction]:
        return read_structures(self, self._read_pictures, queries)

    def _read_pictures(self, queries: list[Query]) -> list[Prediction]:
        with ThreadPoolExecutor(self.workers) as pool:  # osra is single-threaded: run one per core
            return list(pool.map(self._one, queries))
