"""Debian's `osra` (GPL, a separate program) run as a subprocess: classical optical structure recognition."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chemvlm.chem import describe
from chemvlm.chem.explain import explain, language_of
from chemvlm.engines.base import Engine, EngineError, Query
from chemvlm.record import Prediction
from chemvlm.vision import ImageLoadError, load_image


def parse_osra_output(text: str) -> str:
    """osra prints one SMILES per structure it finds; the longest is the main structure (as the
    published osra baseline on ocsr-real takes it). Empty when nothing was found."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return max(lines, key=len) if lines else ""


class OsraEngine(Engine):
    name = "osra"

    def __init__(self, spec, timeout: float = 60.0, workers: int = 2, executable: str = "osra", **_):
        super().__init__(spec)
        self.executable = shutil.which(executable)
        if self.executable is None:
            raise EngineError(f"{executable}: program not found; install it with `apt-get install -y osra`")
        self.timeout = timeout
        self.workers = max(1, workers)
        self.batch_size = self.workers

    def recognise(self, image) -> str:
        """SMILES for one image. Any input the loader accepts is re-encoded as PNG for osra."""
        with tempfile.TemporaryDirectory() as tmp:
            if isinstance(image, (str, Path)) and not str(image).startswith("data:") and Path(image).suffix.lower() in (
                ".png", ".gif", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"
            ):
                load_image(image)  # the same validation and clear errors as every other engine
                path = str(image)
            else:
                path = str(Path(tmp) / "image.png")
                load_image(image).save(path)
            try:
                done = subprocess.run(
                    [self.executable, path], capture_output=True, text=True, timeout=self.timeout, check=False
                )
            except subprocess.TimeoutExpired:
                raise EngineError(f"osra took longer than {self.timeout:g} s on {path}") from None
        if done.returncode != 0:
            raise EngineError(f"osra failed on {path}: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
        return parse_osra_output(done.stdout)

    def _one(self, query: Query) -> Prediction:
        start = time.perf_counter()
        if len(query.images) != 1:
            return self.failed(query, f"osra reads exactly one image per question, got {len(query.images)}")
        try:
            smiles = self.recognise(query.images[0])
        except (ImageLoadError, EngineError) as err:
            return self.failed(query, str(err), time.perf_counter() - start)
        answer = explain(describe(smiles), language_of(query.question))
        return Prediction.from_answer(
            id=query.id, image=query.image_label, question=query.question, answer=answer, smiles=smiles,
            engine=self.name, model=str(self.spec), seconds=time.perf_counter() - start,
        )

    def predict(self, queries: list[Query]) -> list[Prediction]:
        with ThreadPoolExecutor(self.workers) as pool:  # osra is single-threaded: run one per core
            return list(pool.map(self._one, queries))
