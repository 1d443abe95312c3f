"""``reco score``: eligibility, scenarios, ranking and audited runs (see docs/scoring.md)."""

from reco.scoring.config import ScoringConfig, load_config
from reco.scoring.engine import ScoringResult, score
from reco.scoring.inputs import ScoringInputs, read_consent, read_inputs
from reco.scoring.runs import RunSummary, list_runs, run_audit, run_scoring, show_run, summarise_run

__all__ = [
    "RunSummary",
    "ScoringConfig",
    "ScoringInputs",
    "ScoringResult",
    "list_runs",
    "load_config",
    "read_consent",
    "read_inputs",
    "run_audit",
    "run_scoring",
    "score",
    "show_run",
    "summarise_run",
]
