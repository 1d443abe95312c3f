"""run_dbt reports each node as dbt finishes it (dbt's programmatic runner and its events)."""

from reco.dbt.runner import NodeDone, run_dbt


def test_each_finished_node_is_reported_with_its_count_out_of_the_total_and_its_time(db):
    done: list[NodeDone] = []
    run_dbt(
        db,
        ["run", "--select", "stg_raw__load_batches", "stg_raw__products"],
        capture=True,
        on_node=done.append,
    )
    assert sorted(n.index for n in done) == [1, 2]
    assert {n.total for n in done} == {2}
    assert {n.name for n in done} == {"stg_raw__load_batches", "stg_raw__products"}
    assert all(n.kind == "model" and n.status == "ok" and n.seconds >= 0 for n in done)
