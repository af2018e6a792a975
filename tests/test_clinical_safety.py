"""The clinical safety hazard log (docs/clinical-safety/hazard-log.md) stays true.

Every control in the log names the automated tests that prove it, as pytest node ids.
These tests read the log as text and the cited test files with `ast` (nothing is
imported, no database is used) and fail when:

* a cited test file, test function or test class method does not exist;
* a hazard has no tests, a control has no test, or a hazard lacks its initial or
  residual risk;
* a risk rating is not the one the DCB0129/DCB0160 matrix gives, or a residual risk is
  higher than the initial one;
* a required hazard topic (REQUIRED_TOPICS below) is missing;
* the summary table of docs/clinical-safety/safety-case-report.md disagrees with the log.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAZARD_LOG = ROOT / "docs" / "clinical-safety" / "hazard-log.md"
SAFETY_CASE = ROOT / "docs" / "clinical-safety" / "safety-case-report.md"

SEVERITIES = ("Minor", "Significant", "Considerable", "Major", "Catastrophic")
LIKELIHOODS = ("Very low", "Low", "Medium", "High", "Very high")
# The 5 x 5 matrix of the NHS clinical risk management guidance: for each likelihood,
# the rating under each severity, Minor to Catastrophic (the log's own table).
MATRIX = {
    "Very high": (3, 4, 4, 5, 5),
    "High": (2, 3, 3, 4, 5),
    "Medium": (2, 2, 3, 3, 4),
    "Low": (1, 2, 2, 3, 4),
    "Very low": (1, 1, 2, 2, 3),
}

# The hazards the log must always cover: topic -> (hazard id, words its title holds).
REQUIRED_TOPICS = {
    "an appointment never detected (poller misses an EMIS booking)": ("H-01", "never detected"),
    "a patient untraced at the appointment": ("H-02", "untraced"),
    "the wrong patient traced (identity mismatch)": ("H-03", "wrong patient"),
    "a double booking": ("H-04", "double booking"),
    "the wrong slot type offered or booked": ("H-05", "wrong type of slot"),
    "a silent poller death": ("H-06", "poller dies silently"),
    "a cross-organisation data leak (tenancy)": ("H-07", "across organisations"),
    "a lost (or doubled) patient message": ("H-08", "message is lost or sent twice"),
    "a booking whose EMIS outcome is unknown": ("H-09", "outcome in emis is unknown"),
    "a self-book link used by someone else": ("H-10", "self-book link"),
}

NODE_ID = re.compile(r"`(tests/[\w/.-]+\.py(?:::\w+){1,2})`")
HAZARD_HEADING = re.compile(r"^## (H-\d{2}): (.+)$", re.MULTILINE)
ANY_HEADING = re.compile(r"^## ", re.MULTILINE)
RISK_LINE = re.compile(r"^\*\*(Initial|Residual) risk:\*\*(.*)$", re.MULTILINE)
CONTROL = re.compile(r"^- \*\*(C\d+)\.\*\*", re.MULTILINE)
PROVED_BY_LINE = re.compile(r"^- (C\d+): (.*)$", re.MULTILINE)
# A row of the safety case report's summary table: id, title, initial, residual.
SUMMARY_ROW = re.compile(r"^\| (H-\d{2}) \| (.+?) \| (.+?) \| (.+?) \|$", re.MULTILINE)


# --- reading the log -----------------------------------------------------------------------


@dataclass(frozen=True)
class Risk:
    severity: str
    likelihood: str
    rating: int


@dataclass
class Hazard:
    hazard_id: str
    title: str
    text: str
    initial: Risk | None = None
    residual: Risk | None = None
    controls: list[str] = field(default_factory=list)
    proved_by: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def node_ids(self) -> list[str]:
        return [node for nodes in self.proved_by.values() for node in nodes]


def parse_risk(value: str) -> Risk | None:
    """`Considerable / High / 3` -> Risk; None when it is not written that way."""
    parts = [part.strip() for part in value.split("/")]
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    severity, likelihood, rating = parts[0], parts[1], int(parts[2])
    if severity not in SEVERITIES or likelihood not in LIKELIHOODS:
        return None
    return Risk(severity=severity, likelihood=likelihood, rating=rating)


def _section(text: str, start: int) -> str:
    following = ANY_HEADING.search(text, start)
    return text[start : following.start() if following else len(text)]


def parse_hazards(text: str) -> list[Hazard]:
    hazards = []
    for heading in HAZARD_HEADING.finditer(text):
        body = _section(text, heading.end())
        hazard = Hazard(hazard_id=heading.group(1), title=heading.group(2).strip(), text=body)
        for kind, value in RISK_LINE.findall(body):
            risk = parse_risk(value)
            if risk is None:
                hazard.problems.append(
                    f"{hazard.hazard_id}: {kind.lower()} risk “{value.strip()}” is not "
                    "written as Severity / Likelihood / rating"
                )
            elif kind == "Initial":
                hazard.initial = risk
            else:
                hazard.residual = risk
        hazard.controls = CONTROL.findall(body)
        proved_by = body.split("**Proved by:**", 1)
        if len(proved_by) == 2:
            for control, rest in PROVED_BY_LINE.findall(proved_by[1]):
                hazard.proved_by.setdefault(control, []).extend(NODE_ID.findall(rest))
        hazards.append(hazard)
    return hazards


def hazard_problems(hazards: list[Hazard]) -> list[str]:
    """Everything wrong with the hazards' shape and ratings, one line each."""
    problems: list[str] = []
    seen: set[str] = set()
    for hazard in hazards:
        name = hazard.hazard_id
        if name in seen:
            problems.append(f"{name}: the id is used twice")
        seen.add(name)
        problems += hazard.problems
        if not hazard.node_ids:
            problems.append(f"{name}: no test is named under Proved by")
        if not hazard.controls:
            problems.append(f"{name}: no controls")
        for control in hazard.controls:
            if not hazard.proved_by.get(control):
                problems.append(f"{name}: control {control} names no test under Proved by")
        for control in hazard.proved_by:
            if control not in hazard.controls:
                problems.append(f"{name}: Proved by names {control}, which is not a control")
        for kind, risk in (("initial", hazard.initial), ("residual", hazard.residual)):
            if risk is None:
                problems.append(f"{name}: no {kind} risk")
                continue
            expected = MATRIX[risk.likelihood][SEVERITIES.index(risk.severity)]
            if risk.rating != expected:
                problems.append(
                    f"{name}: {kind} risk {risk.severity} / {risk.likelihood} is rated "
                    f"{risk.rating}, but the matrix gives {expected}"
                )
        if hazard.initial and hazard.residual:
            if hazard.residual.rating > hazard.initial.rating:
                problems.append(
                    f"{name}: residual risk {hazard.residual.rating} is higher than the "
                    f"initial {hazard.initial.rating}"
                )
            if SEVERITIES.index(hazard.residual.severity) > SEVERITIES.index(
                hazard.initial.severity
            ):
                problems.append(f"{name}: residual severity is worse than the initial one")
            if LIKELIHOODS.index(hazard.residual.likelihood) > LIKELIHOODS.index(
                hazard.initial.likelihood
            ):
                problems.append(f"{name}: residual likelihood is worse than the initial one")
    return problems


# --- checking node ids against the test files ----------------------------------------------


@dataclass(frozen=True)
class FileTests:
    functions: frozenset[str]
    methods: dict[str, frozenset[str]]


@cache
def read_test_file(path: Path) -> FileTests | None:
    """The test functions and test class methods a file defines, read with `ast`."""
    if not path.is_file():
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    functions = set()
    methods: dict[str, frozenset[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            functions.add(node.name)
        elif isinstance(node, ast.ClassDef):
            methods[node.name] = frozenset(
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return FileTests(functions=frozenset(functions), methods=methods)


def node_id_problem(node_id: str, *, root: Path = ROOT) -> str | None:
    """Why `node_id` names no test pytest would collect, or None when it does."""
    path_text, *names = node_id.split("::")
    path = (root / path_text).resolve()
    if root.resolve() not in path.parents:
        return f"{node_id}: outside the repository"
    found = read_test_file(path)
    if found is None:
        return f"{node_id}: no file {path_text}"
    if len(names) == 1:
        (function,) = names
        if function not in found.functions:
            return f"{node_id}: {path_text} defines no function {function}"
        if not function.startswith("test"):
            return f"{node_id}: {function} is not a test (its name must start with test)"
        return None
    class_name, method = names
    if class_name not in found.methods:
        return f"{node_id}: {path_text} defines no class {class_name}"
    if method not in found.methods[class_name]:
        return f"{node_id}: class {class_name} has no method {method}"
    if not class_name.startswith("Test") or not method.startswith("test"):
        return f"{node_id}: not a test (Test… class and test… method)"
    return None


def missing_node_ids(text: str, *, root: Path = ROOT) -> list[str]:
    """Every node id cited in `text` that names no existing test, with the reason."""
    problems = (node_id_problem(node_id, root=root) for node_id in NODE_ID.findall(text))
    return sorted({problem for problem in problems if problem})


def hazard_log_text() -> str:
    return HAZARD_LOG.read_text(encoding="utf-8")


# --- the log itself --------------------------------------------------------------------------


def test_every_test_the_hazard_log_cites_exists():
    text = hazard_log_text()
    cited = NODE_ID.findall(text)
    assert len(cited) >= 50, f"only {len(cited)} node ids found: is the log being read?"
    missing = missing_node_ids(text)
    assert missing == [], "The hazard log cites tests that do not exist:\n" + "\n".join(missing)


def test_every_hazard_has_controls_tests_and_both_risks_rated_by_the_matrix():
    hazards = parse_hazards(hazard_log_text())
    assert len(hazards) >= len(REQUIRED_TOPICS)
    problems = hazard_problems(hazards)
    assert problems == [], "The hazard log is not in shape:\n" + "\n".join(problems)
    for hazard in hazards:
        assert hazard.initial is not None and hazard.residual is not None
        assert hazard.residual.rating <= hazard.initial.rating, hazard.hazard_id


def test_the_required_hazard_topics_are_all_there():
    titles = {hazard.hazard_id: hazard.title for hazard in parse_hazards(hazard_log_text())}
    missing = [
        f"{topic}: expected {hazard_id} with “{words}” in its title, found "
        f"“{titles.get(hazard_id, 'no such hazard')}”"
        for topic, (hazard_id, words) in REQUIRED_TOPICS.items()
        if words not in titles.get(hazard_id, "").lower()
    ]
    assert missing == [], "Required hazards are missing:\n" + "\n".join(missing)


def test_the_safety_case_summary_agrees_with_the_hazard_log():
    in_log = {
        h.hazard_id: (h.title, h.initial, h.residual) for h in parse_hazards(hazard_log_text())
    }
    in_report = {
        hazard_id: (title, parse_risk(initial), parse_risk(residual))
        for hazard_id, title, initial, residual in SUMMARY_ROW.findall(
            SAFETY_CASE.read_text(encoding="utf-8")
        )
    }
    assert in_report == in_log


# --- the checker catches what it should (so the tests above are not vacuous) -----------------

REAL = "tests/tracing/test_poller.py::test_a_first_poll_finds_every_booking_made_in_emis"
OWN_METHOD = (
    "tests/test_clinical_safety.py::TestTheCheckerReadsClasses::"
    "test_a_class_method_node_id_is_found"
)


def test_the_checker_reports_made_up_tests_and_only_those():
    text = f"""
    - C1: `{REAL}`
    - C1: `tests/tracing/test_poller.py::test_a_poll_that_reads_minds`
    - C2: `tests/tracing/test_no_such_file.py::test_anything`
    - C2: `tests/tracing/test_worklist_admin.py::act`
    - C3: `tests/test_clinical_safety.py::TestNoSuchClass::test_x`
    - C3: `tests/test_clinical_safety.py::TestTheCheckerReadsClasses::test_not_there`
    - C3: `{OWN_METHOD}`
    """
    assert missing_node_ids(text) == [
        "tests/test_clinical_safety.py::TestNoSuchClass::test_x: "
        "tests/test_clinical_safety.py defines no class TestNoSuchClass",
        "tests/test_clinical_safety.py::TestTheCheckerReadsClasses::test_not_there: "
        "class TestTheCheckerReadsClasses has no method test_not_there",
        "tests/tracing/test_no_such_file.py::test_anything: "
        "no file tests/tracing/test_no_such_file.py",
        "tests/tracing/test_poller.py::test_a_poll_that_reads_minds: "
        "tests/tracing/test_poller.py defines no function test_a_poll_that_reads_minds",
        "tests/tracing/test_worklist_admin.py::act: "
        "act is not a test (its name must start with test)",
    ]


def test_the_checker_reports_hazards_out_of_shape():
    text = f"""
## H-01: Fine

**Initial risk:** Considerable / High / 3

**Controls:**
- **C1.** Something real.

**Residual risk:** Considerable / Low / 2

**Proved by:**
- C1: `{REAL}`

## H-02: Worse after its controls, with a wrong rating and an unproved control

**Initial risk:** Significant / Low / 2

**Controls:**
- **C1.** Proved.
- **C2.** Not proved.

**Residual risk:** Major / Medium / 4

**Proved by:**
- C1: `{REAL}`

## H-03: No tests and no residual risk

**Initial risk:** Minor / Very low / 1

**Controls:**
- **C1.** Nothing proves it.

## Not a hazard
"""
    hazards = parse_hazards(text)
    assert [h.hazard_id for h in hazards] == ["H-01", "H-02", "H-03"]
    assert hazards[0].initial == Risk("Considerable", "High", 3)
    assert hazards[0].proved_by == {"C1": [REAL]}
    assert hazard_problems(hazards) == [
        "H-02: control C2 names no test under Proved by",
        "H-02: residual risk Major / Medium is rated 4, but the matrix gives 3",
        "H-02: residual risk 4 is higher than the initial 2",
        "H-02: residual severity is worse than the initial one",
        "H-02: residual likelihood is worse than the initial one",
        "H-03: no test is named under Proved by",
        "H-03: control C1 names no test under Proved by",
        "H-03: no residual risk",
    ]


def test_a_risk_not_written_as_severity_likelihood_rating_is_reported():
    assert parse_risk("Considerable / High / 3") == Risk("Considerable", "High", 3)
    assert parse_risk("Considerable, High: 3") is None
    assert parse_risk("Awful / High / 3") is None
    hazards = parse_hazards("## H-09: Odd\n\n**Initial risk:** High / Considerable / 3\n")
    assert hazard_problems(hazards)[0] == (
        "H-09: initial risk “High / Considerable / 3” is not written as "
        "Severity / Likelihood / rating"
    )


class TestTheCheckerReadsClasses:
    def test_a_class_method_node_id_is_found(self):
        assert node_id_problem(OWN_METHOD) is None
        assert node_id_problem(REAL) is None
