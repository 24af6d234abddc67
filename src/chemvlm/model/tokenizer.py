"""Tokenizers for ChemVLM models: the special tokens, the internlm2-chat template, and a small trainable one.

Released checkpoints bring their own tokenizer (InternLM2's, converted); `build_tokenizer` makes one for
models trained from scratch (tests, small models) with the same special tokens and template.
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
IMAGE_PLACEHOLDER = "<image>"  # what users write in a question; expanded into image tokens before tokenising

# InternLM2's base specials, then the chat markers, then the 9 tokens InternVL adds (in its order).
SPECIAL_TOKENS = [
    "<unk>", "<s>", "</s>", IM_START, IM_END,
    IMG_START, IMG_END, IMG_CONTEXT, "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>",
]


def chat_template(system_message: str) -> str:
    """internlm2-chat as a Jinja template (InternVL's `internlm2-chat` conversation, MPT separator style):

    <|im_start|>system\\n{system}<|im_end|><|im_start|>user\\n{q}<|im_end|><|im_start|>assistant\\n{a}<|im_end|>…
    """
    system = system_message.replace("\\", "\\\\").replace("'", "\\'")
    return (
        "{%- if messages and messages[0]['role'] == 'system' -%}"
        "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
        "{%- else -%}{%- set system = '" + system + "' -%}{%- set turns = messages -%}{%- endif -%}"
        "{{ '<|im_start|>system\\n' + system + '<|im_end|>' }}"
        "{%- for message in turns -%}"
        "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' }}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
    )


def wrap_tokenizer(tokenizer_object: Tokenizer, system_message: str) -> PreTrainedTokenizerFast:
    """A transformers tokenizer with ChemVLM's special tokens and chat template."""
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_object,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",  # InternLM2 pads with </s>; attention masks make the choice harmless
        additional_special_tokens=SPECIAL_TOKENS[3:],
        padding_side="left",  # batched generation appends on the right
    )
    tokenizer.chat_template = chat_template(system_message)
    return tokenizer


# Pieces no BPE merge may cross, so that every SMILES atom, bond, branch and ring digit is its own unit:
# bracket atoms, two-letter organic atoms, one-letter atoms, ring numbers, bond and branch symbols. Other
# letter runs stay whole words (only a word that starts with an atom letter loses that letter to it), and
# the remaining text (CJK, punctuation) is left to the BPE merges.
SMILES_PIECES = r"\[[^\[\]\s]{1,12}\]|Br|Cl|%\d\d|[BCNOPSFIbcnops]|\d|[()=#$:/\\.+\-@*~]|[A-Za-z]+|\s+"


def build_tokenizer(
    corpus: Iterable[str], system_message: str = "", vocab_size: int = 1000, smiles_aware: bool = False
) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on `corpus` (deterministic for the same corpus), special tokens first.
    `smiles_aware` first cuts text into SMILES_PIECES, so SMILES atoms and bonds become tokens of their own."""
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    if smiles_aware:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(SMILES_PIECES), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    return wrap_tokenizer(tokenizer, system_message)


# Text a from-scratch tokenizer is trained on when nothing better is given: the answer phrasings of
# the paper in both languages and SMILES of common molecules, so that both scripts and SMILES have merges.
STARTER_CORPUS = [
    "依据我的观察，这个图片展示的分子式，按SMILES来说是 CC(=O)Oc1ccccc1C(=O)O。",
    "In my view, the molecular formula displayed in the image with a SMILES representation is CCO.",
    "What is the SMILES of the molecule in the image? 图中分子的SMILES是什么？",
    "Answer with the option's letter from the given choices directly. 答案：A B C D",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C CC(C)Cc1ccc(cc1)C(C)C(=O)O O=C(O)c1ccccc1O c1ccc2ccccc2c1",
    "C[C@H](N)C(=O)O F/C=C/F ClC(Cl)Cl BrCCBr OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O [Na+].[Cl-] N#N",
    "Formula C9H8O4, molecular weight 180.16 g/mol. 分子式 C9H8O4，分子量 180.16。",
]
