"""Tests of sa3p_host: local backends and the sa3p command."""
