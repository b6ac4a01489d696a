"""Fuzz harness `shc` (atheris): see targets.shc and README.md. Run through run.py, or by hand:

python tests/fuzz/fuzz_shc.py CORPUS_DIR [libFuzzer options]
"""

import sys

import atheris

with atheris.instrument_imports(include=["econsent"]):
    import targets

if __name__ == "__main__":
    atheris.Setup(sys.argv, targets.TARGETS["shc"])
    atheris.Fuzz()
