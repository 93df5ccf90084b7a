"""Reusable constructs, one per component; stacks compose them."""
