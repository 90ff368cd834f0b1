"""Tests of the ops hub."""
