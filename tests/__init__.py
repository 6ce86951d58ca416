"""Tests of patchcompliance. A regular package, so `tests.support` imports the same way under pytest and from bench/."""
