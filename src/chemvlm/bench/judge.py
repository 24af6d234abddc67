"""An LLM judge for free-form answers: a binary verdict (correct or not) against the reference answer,
as the paper scores MMCR-Bench, through any OpenAI-compatible server."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from chemvlm.bench.items import BenchItem
from chemvlm.engines.openai import OpenAIEngine
from chemvlm.spec import ModelSpec

PROMPT = """You are grading a chemistry exam. Compare the student's answer with the reference answer.
The student's answer is correct only if its final answer agrees with the reference (equivalent chemical
formulas, equations, names and numbers within rounding count as agreeing); the working does not matter.

Question:
{question}

Reference answer:
{reference}

Reference explanation:
{analysis}

Student's answer:
{answer}

Reply with exactly one word: CORRECT or INCORRECT."""

_VERDICT = re.compile(r"\b(INCORRECT|CORRECT|WRONG|RIGHT|YES|NO)\b|(不正确|错误|正确)", re.IGNORECASE)
_TRUE = {"correct", "right", "yes", "正确"}


def parse_verdict(text: str) -> bool | None:
    """The judge's first verdict word; None when it gave none."""
    match = _VERDICT.search(text or "")
    if not match:
        return None
    return (match.group(1) or match.group(2)).lower() in _TRUE


class Judge:
    def __init__(self, spec: str | ModelSpec, **options):
        spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
        if spec.kind != "openai":
            raise ValueError(f"judge {spec}: a judge is an OpenAI-compatible server, openai:URL#MODEL")
        self.engine = OpenAIEngine(spec, **options)
        self.name = str(spec)

    def verdict(self, item: BenchItem, answer: str) -> bool | None:
        prompt = PROMPT.format(question=item.question, reference=item.answer,
                               analysis=item.analysis or "(none)", answer=answer or "(no answer)")
        return parse_verdict(self.engine.chat([{"role": "user", "content": prompt}], max_tokens=8))

    def verdicts(self, pairs: list[tuple[BenchItem, str]]) -> list[bool | None]:
        with ThreadPoolExecutor(self.engine.batch_size) as pool:
            return list(pool.map(lambda pair: self.verdict(*pair), pairs))
