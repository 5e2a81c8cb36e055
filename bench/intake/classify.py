"""bench.intake.classify: how well the rules alone find disputes and risk flags in a CAD export they
have never seen a code table for, against the call types labelled by hand in
tests/data/milwaukee_call_type_labels.csv (tests/data/README.md says how they were decided).

    .venv/bin/python -m bench.intake.classify [--profile milwaukee_cad] [--file CSV] [--labels CSV]

Two runs over every row of the bundled Milwaukee export: the profile with its code table switched
off (only the text, the call type, decides), and the profile `fengqiao-intake profile scaffold`
writes for the file with its suggestions accepted unchanged. Figures are printed per call type
(each distinct call type counts once) and per row (weighted by how often each occurs).
"""
import argparse
import csv
import sys
import tempfile
from collections import Counter
from pathlib import Path

from services.intake.domain.classification import Classifier
from services.intake.domain.profile_model import FeedProfile
from services.intake.domain.profiles import map_record
from services.intake.profile_files import load_profile, load_profile_file
from services.intake.scaffold import scaffold_profile

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "services" / "intake" / "samples" / "milwaukee_calls_2018-05-01_to_14.csv"
LABELS = ROOT / "tests" / "data" / "milwaukee_call_type_labels.csv"
# Call types of other English-language CAD systems (US and UK wordings), labelled the same way.
OTHER_LABELS = ROOT / "tests" / "data" / "other_cad_call_types.csv"


def read_labels(path: Path = LABELS) -> dict[str, dict[str, bool]]:
    """call type → {dispute, domestic_violence, threat}."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["call_type"]: {k: row[k] == "yes" for k in ("dispute", "domestic_violence", "threat")}
                for row in csv.DictReader(handle)}


def decisions(profile: FeedProfile, file: Path, classifier: Classifier) -> dict[str, tuple[Counter, int]]:
    """call type → (what was decided for its rows: ('dispute', flag...) counts, rows)."""
    out: dict[str, tuple[Counter, int]] = {}
    rules = classifier.with_keywords(profile.keywords.model_dump())
    with file.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            mapped = map_record(profile, row)
            if mapped.record is None:
                continue
            r = mapped.record
            c = rules.classify(category=mapped.code.category if mapped.code else None, description=r.description,
                               category_text=r.category_text)
            flags = set(c.risk_flags) | set(mapped.code.risk if mapped.code else ())
            seen, n = out.setdefault(r.category_code or "", (Counter(), 0))
            seen.update({"dispute": c.kind == "dispute", **{f: True for f in flags}})
            out[r.category_code or ""] = (seen, n + 1)
    return out


def score(decided: dict[str, tuple[Counter, int]], labels: dict[str, dict[str, bool]]) -> dict[str, float]:
    """Precision and recall of "is a dispute", recall of the DV and threat flags; per type and per row.
    A call type counts as decided the way most of its rows were."""
    figures: dict[str, float] = {}
    for unit in ("type", "row"):
        tp = fp = fn = 0
        flags = {"domestic_violence": [0, 0], "threat": [0, 0]}
        for code, (seen, n) in decided.items():
            label = labels.get(code)
            if label is None:
                continue
            if unit == "type":
                yes = 1 if seen["dispute"] * 2 > n else 0
                no = 1 - yes
            else:
                yes, no = seen["dispute"], n - seen["dispute"]
            tp, fn, fp = (tp + yes, fn + no, fp) if label["dispute"] else (tp, fn, fp + yes)
            for flag, counts in flags.items():
                if label[flag]:
                    counts[0] += (1 if seen[flag] * 2 > n else 0) if unit == "type" else seen[flag]
                    counts[1] += 1 if unit == "type" else n
        figures[f"dispute_precision_{unit}"] = tp / (tp + fp) if tp + fp else 0.0
        figures[f"dispute_recall_{unit}"] = tp / (tp + fn) if tp + fn else 0.0
        for flag, (hit, total) in flags.items():
            figures[f"{flag}_recall_{unit}"] = hit / total if total else 0.0
    return figures


def misses(decided: dict[str, tuple[Counter, int]], labels: dict[str, dict[str, bool]]) -> list[str]:
    """The call types decided against their label, for the reader."""
    wrong = []
    for code, (seen, n) in sorted(decided.items(), key=lambda kv: -kv[1][1]):
        label = labels.get(code)
        if label is not None and (seen["dispute"] * 2 > n) != label["dispute"]:
            wrong.append(f"{code} ({n} rows): labelled {'dispute' if label['dispute'] else 'not a dispute'}")
    return wrong


def rules_alone(profile: FeedProfile) -> FeedProfile:
    """The profile with its code table switched off."""
    return profile.model_copy(update={"categories": {}})


def scaffolded(file: Path, profile: FeedProfile, classifier: Classifier) -> FeedProfile:
    """The profile the scaffold writes for the file, loaded back as a person would after accepting it."""
    text = scaffold_profile(file, name=f"{profile.name}_scaffold", classifier=classifier)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{profile.name}_scaffold.yaml"
        path.write_text(text, encoding="utf-8")
        return load_profile_file(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="milwaukee_cad")
    parser.add_argument("--file", type=Path, default=SAMPLE)
    parser.add_argument("--labels", type=Path, default=LABELS)
    args = parser.parse_args()
    classifier, labels = Classifier.load(), read_labels(args.labels)
    profile = load_profile(args.profile)
    runs = {"rules alone (code table off)": rules_alone(profile),
            "scaffold's suggestions accepted": scaffolded(args.file, profile, classifier)}
    print(f"{args.file.name}: {len(labels)} labelled call types, rules {classifier.version}")
    for title, chosen in runs.items():
        decided = decisions(chosen, args.file, classifier)
        figures = score(decided, labels)
        print(f"\n{title}: {sum(n for _, n in decided.values()):,} rows, {len(decided)} call types")
        print(f"  {'':28} {'per call type':>14} {'per row':>10}")
        for name in ("dispute_precision", "dispute_recall", "domestic_violence_recall", "threat_recall"):
            print(f"  {name:28} {figures[name + '_type']:>14.3f} {figures[name + '_row']:>10.3f}")
        for line in misses(decided, labels):
            print(f"  wrong: {line}")
    other = read_labels(OTHER_LABELS)
    decided = {}
    for code in other:
        c = classifier.classify(category=None, description=None, category_text=code)
        decided[code] = (Counter({"dispute": c.kind == "dispute", **{f: True for f in c.risk_flags}}), 1)
    figures = score(decided, other)
    print(f"\ncall types of other CAD systems, rules alone: {len(other)} call types ({OTHER_LABELS.name})")
    for name in ("dispute_precision", "dispute_recall", "domestic_violence_recall", "threat_recall"):
        print(f"  {name:28} {figures[name + '_type']:>14.3f}")
    for line in misses(decided, other):
        print(f"  wrong: {line.replace(' (1 rows)', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
