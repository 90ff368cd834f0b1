"""Tests of the fin hub."""
