import pytest

from reco.errors import RecoError
from reco.scoring.config import ScoringConfig, load_config
from reco.vocab import SCENARIOS


def test_no_file_gives_the_documented_defaults():
    config = load_config(None)
    assert config == ScoringConfig()
    assert config.priority == SCENARIOS
    assert config.eligibility.silence_days == 14
    assert config.rules.max_per_family == 2


def test_file_overrides_only_the_keys_it_sets(tmp_path):
    path = tmp_path / "reco.toml"
    path.write_text('priority = ["rebuy", "NURTURE"]\n[eligibility]\nsilence_days = 30\n')
    config = load_config(path)
    assert config.priority == ("REBUY", "NURTURE")
    assert config.eligibility.silence_days == 30
    assert config.eligibility.contact_cap == 0


def test_the_example_file_at_the_top_of_the_repo_is_valid_and_matches_defaults():
    from reco.settings import project_root

    assert load_config(project_root() / "reco.toml.example") == ScoringConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[eligibility]\nsilence_days = -1\n",
            "[eligibility] silence_days = -1: expected a number >= 0",
        ),
        (
            "[eligibility]\nsilence_days = 'x'\n",
            "[eligibility] silence_days = 'x': expected an integer",
        ),
        ("[rules]\ntop_n = 4\n", "[rules] top_n = 4: expected an integer from 1 to 3"),
        ("[rebuy]\ncalibrate = 1\n", "[rebuy] calibrate = 1: expected true or false"),
        (
            "[rebuy]\nmin_hit_probability = 1.5\n",
            "[rebuy] min_hit_probability = 1.5: expected a number from 0 to 1",
        ),
        ("[rebuy]\nhalf_life = 3\n", "unknown setting [rebuy] half_life"),
        ("[rebuyy]\nx = 3\n", "unknown section or setting 'rebuyy'"),
        ('priority = ["REBUY", "NOPE"]\n', "unknown scenario 'NOPE'"),
        ('priority = ["REBUY", "REBUY"]\n', "a scenario is listed twice"),
        ("[rules\n", "not valid TOML"),
    ],
)
def test_a_bad_value_is_one_clear_error_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RecoError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RecoError, match="configuration file not found"):
        load_config(tmp_path / "nope.toml")
