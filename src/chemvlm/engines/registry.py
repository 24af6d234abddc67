"""Which engine a model spec names: its class, and the engine built with the options given."""

from __future__ import annotations

from chemvlm.engines.base import Engine, EngineError, check_options, option_names
from chemvlm.spec import ModelSpec


def engine_class(spec: ModelSpec) -> type[Engine]:
    """The class of the engine a spec names (imported only when named: the local engine loads torch)."""
    if spec.kind == "osra":
        from chemvlm.engines.osra import OsraEngine

        return OsraEngine
    if spec.kind in ("local", "preset"):
        from chemvlm.engines.local import LocalEngine

        return LocalEngine
    try:
        if spec.kind == "openai":
            from chemvlm.engines.openai import OpenAIEngine

            return OpenAIEngine
        if spec.kind == "ensemble":
            from chemvlm.engines.ensemble import EnsembleEngine

            return EnsembleEngine
    except ImportError:
        raise EngineError(f"{spec}: the {spec.kind} engine is not available in this install") from None
    raise EngineError(f"{spec}: unknown engine kind {spec.kind!r}")


def takes(spec: ModelSpec | str) -> tuple[str, ...]:
    """The options `load_engine` accepts for a spec: an ensemble's own and those of its members."""
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    names = option_names(engine_class(spec).Options)
    for member in spec.members:
        names += tuple(n for n in takes(member) if n not in names)
    return names


def given_options(spec: ModelSpec | str, **options) -> dict:
    """The options given (one given as None is not: the engine's own setting applies), once it is checked
    that an engine in play takes each; OptionError names the first that none takes. Nothing is loaded."""
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    options = {name: value for name, value in options.items() if value is not None}
    check_options(options, spec, takes(spec), members=bool(spec.members))
    return options


def load_engine(spec: ModelSpec | str, **options) -> Engine:
    """The engine a spec names, with its options (e.g. max_tiles, timeout). An option given as None is not
    given (the engine's own setting); one the engine does not take is refused with an OptionError naming it.
    An ensemble passes each option to the members that take it (engines.ensemble.member_options) and
    refuses it only when neither it nor any member takes it."""
    spec = ModelSpec.parse(spec) if isinstance(spec, str) else spec
    options = given_options(spec, **options)
    cls = engine_class(spec)
    if not spec.members:
        return cls(spec, **options)
    from chemvlm.engines.ensemble import member_options

    own = {name: value for name, value in options.items() if name in option_names(cls.Options)}
    loaded: dict[str, Engine] = {}  # a spec named twice is loaded and run once
    for member in spec.members:
        if str(member) not in loaded:
            loaded[str(member)] = load_engine(member, **member_options(takes(member), options))
    return cls(spec, [loaded[str(member)] for member in spec.members], **own)
