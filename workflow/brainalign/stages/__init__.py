"""Stage functions: read input stores, call the numerical core, write one output store.

Each function here is what one ``brainalign <stage>`` command runs, and can be called from a
notebook on the same paths. Only these functions (and ``brainalign.cli``) know about files.
"""
