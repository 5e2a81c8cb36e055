"""The live queue benchmark (see README.md beside this file)."""
