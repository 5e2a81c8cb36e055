"""Assessment's national ranking and facts-consumer benchmark (see README.md beside this file)."""
