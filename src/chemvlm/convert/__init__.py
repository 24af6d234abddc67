"""Released InternVL-Chat checkpoints (ChemVLM-26B/-8B) into the native transformers layout, and
assembling a stage-1 starting checkpoint from a vision checkpoint and a separate LLM."""

__all__ = ["convert_internvl_chat"]


def __getattr__(name):
    # Lazy: the command line imports this package to register `convert`; conversion pulls in torch.
    if name == "convert_internvl_chat":
        from chemvlm.convert.internvl_chat import convert_internvl_chat

        return convert_internvl_chat
    raise AttributeError(name)
