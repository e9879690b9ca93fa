# Helpers shared by the rules: a stage's resolved config as JSON for `brainalign <stage> --spec`.
import json


def as_json(obj):
    """Compact, key-sorted JSON: also what Snakemake compares to decide that params changed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
