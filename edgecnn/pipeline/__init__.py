"""Recipes, the targets table and the runner behind `edgecnn optimize`."""
