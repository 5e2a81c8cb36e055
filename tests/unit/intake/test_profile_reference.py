"""docs/profiles.md is what services/intake/profile_reference.py writes from the profile model."""
from services.intake.domain.profile_model import FeedProfile, FieldSpec
from services.intake.profile_reference import OUTPUT, render


def test_the_committed_reference_is_up_to_date():
    assert OUTPUT.read_text("utf-8") == render(), \
        "docs/profiles.md is stale: run .venv/bin/python -m services.intake.profile_reference"


def test_every_key_of_the_model_is_in_the_reference():
    text = render()
    for model in (FeedProfile, FieldSpec):
        for name, info in model.model_fields.items():
            assert f"| `{info.alias or name}` |" in text
    assert "at most 64 characters" in text and "`column_N`" in text and "fallback" in text
