"""The training-data engine: molecule sources, filters and splits, renderers, degradations, bilingual tasks,
and the builder that writes InternVL-format shards (or lazy rows rendered on the fly)."""
