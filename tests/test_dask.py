"""vertexchat on Dask: a real LocalCluster of worker processes, the emulator as a subprocess.

Run with ``uv sync --extra dask && uv run pytest -m dask``. One cluster (2 worker processes, 1
thread each) for the module; Dask is imported inside the fixtures and tests, so the default run
(``-m "not dask"``) collects this file without the extra installed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vertexchat
from tests._engine_support import (
    Emulator,
    emulator,
    sent_questions,
    start_emulator,
    stop_emulators,
    wait_until_quiet,
)
from vertexchat._rows import RESULT_COLUMNS, ClientRecipe

__all__ = ["emulator"]  # a fixture, imported for pytest

pytestmark = pytest.mark.dask

MODEL = "google/gemini-2.5-flash"
QUICK_RETRIES = vertexchat.RetryPolicy(max_attempts=10, initial_delay=0.01, max_delay=0.1)


def request(n: int, **extra: Any) -> str:
    messages = [{"role": "user", "content": f"question {n}"}]
    return json.dumps({"model": MODEL, "messages": messages, **extra})


def items(count: int) -> list[dict[str, str]]:
    return [{"custom_id": f"row-{n}", "request": request(n)} for n in range(count)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A ``distributed.Client`` on a LocalCluster of 2 worker processes (1 thread each)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        yield client


def bag(rows: list[dict[str, str]], partitions: int) -> Any:
    import dask.bag

    return dask.bag.from_sequence(rows, npartitions=partitions)


def _faults(*kinds: str) -> list[str]:
    return [option for kind in kinds for option in ("--fault", kind)]


def test_mixed_faults_lose_nothing_duplicate_nothing_and_errors_are_rows(
    cluster: Any, emulator: Emulator
) -> None:
    from vertexchat.dask import complete

    base_url = emulator("--no-auth", "--fault-rate", "0.2", *_faults("429", "500", "503", "reset"))
    rows = items(1000)
    rows[10]["request"] = "{broken"
    rows[20]["request"] = request(20, extra_headers={"x-emulator-fault": "400"})
    recipe = ClientRecipe(base_url=base_url, auth="none", retry_policy=QUICK_RETRIES)
    results = complete(bag(rows, 8), recipe).compute()
    assert [row["custom_id"] for row in results] == [row["custom_id"] for row in rows]
    assert all(list(row) == list(RESULT_COLUMNS) for row in results)
    by_id = {row["custom_id"]: row for row in results}
    assert by_id["row-10"]["error_type"] == "InvalidRequestError"
    assert by_id["row-10"]["attempts"] == 0
    assert by_id["row-20"]["error_type"] == "BadRequestError"
    assert by_id["row-20"]["status_code"] == 400
    answered = [row for row in results if row["custom_id"] not in ("row-10", "row-20")]
    assert all(row["response"] is not None for row in answered)
    assert sum(row["attempts"] > 1 for row in answered) > 50  # ≈20 % needed a retry
    assert all(json.loads(row["response"])["usage"]["total_tokens"] > 0 for row in answered)
    # Both worker processes did the work, each through one client of its own.
    clients = cluster.run(_client_count)
    assert len(clients) == 2
    assert all(count >= 1 for count in clients.values())


def _client_count() -> int:
    import vertexchat.dask

    return len(vertexchat.dask._clients)


def test_a_rejected_token_stops_the_job_with_one_clear_error(
    cluster: Any, emulator: Emulator
) -> None:
    import traceback

    from vertexchat.dask import JobStoppedError, complete

    base_url = emulator("--token", "right-token")
    recipe = ClientRecipe(base_url=base_url, auth="token", token="wrong-token-123")
    with pytest.raises(JobStoppedError) as caught:
        complete(bag(items(200), 4), recipe).compute()
    stop = caught.value
    assert stop.error_type == "AuthenticationError"
    assert stop.status_code == 401
    assert "HTTP 401" in str(stop)
    assert "wrong-token-123" not in "".join(traceback.format_exception(stop))
    logs = json.dumps(cluster.get_worker_logs(), default=str)
    assert "Compute Failed" in logs  # the workers logged the failed tasks…
    assert "wrong-token-123" not in logs  # …without the token


def test_a_job_quota_equal_to_the_servers_capacity_never_gets_a_429(
    cluster: Any, emulator: Emulator
) -> None:
    from vertexchat.dask import complete

    base_url = emulator("--no-auth", "--max-concurrency", "8", "--latency", "0.05")
    recipe = ClientRecipe(
        base_url=base_url, auth="none", retry_policy=QUICK_RETRIES, max_concurrency=8
    )

    def retried(**options: Any) -> int:
        results = complete(bag(items(400), 4), recipe, **options).compute()
        assert [row["custom_id"] for row in results] == [row["custom_id"] for row in items(400)]
        assert all(row["response"] is not None for row in results)
        return sum(row["attempts"] - 1 for row in results)  # every extra attempt followed a 429

    # The server takes 8 calls at once and the job's quota is 8. Split between the cluster's
    # 2 workers, or held in a Semaphore, it is never overrun. Split as if there were 1 worker
    # (a worker count gone stale: one joined later), each worker believes it has all 8 and
    # they overrun it from their first calls, whatever the scheduling; the Semaphore does not
    # depend on the count.
    assert retried(quota="split") == 0
    assert retried(quota="split", workers=1) > 0
    assert retried(quota="semaphore", workers=1) == 0
    held = cluster.run_on_scheduler(_leases_held)
    assert held  # the job's semaphore…
    assert set(held.values()) == {0}  # …has every lease back


def _leases_held(dask_scheduler: Any) -> dict[str, int]:
    leases = dask_scheduler.extensions["semaphores"].leases
    return {name: len(held) for name, held in leases.items()}


def test_worker_teardown_closes_the_clients_and_their_loop(
    cluster: Any, emulator: Emulator
) -> None:
    from vertexchat.dask import complete

    base_url = emulator("--no-auth")
    recipe = ClientRecipe(base_url=base_url, auth="none")
    assert len(complete(bag(items(20), 2), recipe).compute()) == 20
    assert all(state[0] >= 1 and state[1] for state in cluster.run(_worker_state).values())
    cluster.unregister_worker_plugin("vertexchat-clients")  # what closing a worker runs
    assert all(state == (0, False) for state in cluster.run(_worker_state).values())
    # The next job starts a new loop and new clients, and registers the plugin again.
    assert len(complete(bag(items(20), 2), recipe).compute()) == 20
    assert all(state[1] for state in cluster.run(_worker_state).values())


def _worker_state() -> tuple[int, bool]:
    import threading

    names = {thread.name for thread in threading.enumerate()}
    return _client_count(), "vertexchat-dask-loop" in names


_SCRIPT = """
import json, sys
import dask.bag
from distributed import Client, LocalCluster
import vertexchat.dask
from vertexchat.dask import ClientRecipe

if __name__ == "__main__":
    rows = [{"custom_id": f"r{n}", "request": json.dumps({"model": "google/gemini-2.5-flash",
             "messages": [{"role": "user", "content": f"q{n}"}]})} for n in range(40)]
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \\
            Client(cluster):
        recipe = ClientRecipe(base_url=sys.argv[1], auth="none")
        results = vertexchat.dask.complete(dask.bag.from_sequence(rows, npartitions=4), recipe)
        print(sum(row["response"] is not None for row in results.compute()))
    # No cluster now: the threaded scheduler, this process's client, closed at exit.
    results = vertexchat.dask.complete(dask.bag.from_sequence(rows, npartitions=4), recipe)
    print(sum(row["response"] is not None for row in results.compute(scheduler="threads")))
    print(len(vertexchat.dask._clients))
"""


def test_a_job_and_its_cluster_exit_without_a_word_on_stderr(
    emulator: Emulator, tmp_path: Path
) -> None:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    environment = {**_environment(), "PYTHONWARNINGS": "always"}  # workers inherit it
    done = subprocess.run(
        [sys.executable, str(script), emulator("--no-auth")],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["40", "40", "1"]
    assert done.stderr == ""


def _environment() -> dict[str, str]:
    import os

    return dict(os.environ)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    processes: list[subprocess.Popen[str]] = []
    yield start_emulator(processes, "--no-auth")
    stop_emulators(processes)
    import vertexchat.dask

    vertexchat.dask._clients.close()  # this test process's clients (no cluster there)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(st.one_of(st.text(max_size=40), st.binary(max_size=40)), max_size=6))
def test_any_request_text_becomes_exactly_one_row(server: str, requests: list[Any]) -> None:
    from vertexchat.dask import complete_partition

    partition = [{"custom_id": f"id-{n}", "request": r} for n, r in enumerate(requests)]
    recipe = ClientRecipe(base_url=server, auth="none", max_retries=0)
    rows = complete_partition(partition, recipe, concurrency=4, model=MODEL)
    assert [row["custom_id"] for row in rows] == [item["custom_id"] for item in partition]
    for row in rows:
        assert (row["response"] is None) != (row["error"] is None)


def test_the_readme_example_runs_against_the_emulator(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    # README "Scaling out with Dask", the same calls; the emulator stands in for Google.
    import dask.bag

    import vertexchat.dask
    from vertexchat.dask import output_line

    requests = dask.bag.from_sequence(
        [
            {
                "custom_id": f"q{n}",
                "request": json.dumps(
                    {
                        "model": "google/gemini-2.5-flash",
                        "messages": [{"role": "user", "content": f"Question {n}"}],
                    }
                ),
            }
            for n in range(100)
        ],
        npartitions=4,
    )
    recipe = ClientRecipe(base_url=emulator("--no-auth"), auth="none", max_concurrency=16)
    results = vertexchat.dask.complete(requests, recipe, quota="semaphore")
    results.map(output_line).map(json.dumps).to_textfiles(str(tmp_path / "results" / "*.jsonl"))
    files = sorted((tmp_path / "results").glob("*.jsonl"))
    assert len(files) == 4
    lines = [json.loads(line) for file in files for line in file.read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == [f"q{n}" for n in range(100)]
    assert all(set(line) == {"custom_id", "response"} for line in lines)
    assert lines[0]["response"]["object"] == "chat.completion"


def test_bad_input_is_refused_with_the_field_named(cluster: Any, emulator: Emulator) -> None:
    from vertexchat.dask import complete

    recipe = ClientRecipe(base_url=emulator("--no-auth"), auth="none")
    with pytest.raises(TypeError, match=r"dask\.bag\.Bag of custom_id"):
        complete(items(2), recipe)
    with pytest.raises(ValueError, match="quota"):
        complete(bag(items(2), 1), recipe, quota="lease")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="workers"):
        complete(bag(items(2), 1), recipe, workers=0)
    missing = [{"custom_id": "a", "request": request(1)}, {"custom_id": "b"}]
    with pytest.raises(KeyError, match="'request'"):
        complete(bag(missing, 1), recipe).compute()
    twice = [{"custom_id": "a", "request": request(1)}, {"custom_id": "a", "request": request(2)}]
    with pytest.raises(ValueError, match="duplicate custom_id 'a'"):
        complete(bag(twice, 1), recipe).compute()


DRIVER = """
import json, sys
import dask.bag
from distributed import Client
import vertexchat.dask
from vertexchat.dask import ClientRecipe

address, source, output, base_url = sys.argv[1:5]
with Client(address) as client:
    rows = [json.loads(line) for line in open(source)]
    bag = dask.bag.from_sequence(rows, npartitions=20)
    recipe = ClientRecipe(base_url=base_url, auth="none", max_concurrency=8)
    results = vertexchat.dask.complete(bag, recipe, output=output).compute()
    print(json.dumps({"rows": len(results)}))
"""


def test_a_killed_job_rerun_sends_no_finished_id_again_and_reads_once(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    from vertexchat._shards import read_index
    from vertexchat.dask import read_results

    log = tmp_path / "requests.log"
    base_url = emulator("--no-auth", "--latency", "0.05", "--request-log", str(log))
    source, output = tmp_path / "requests.jsonl", tmp_path / "results"
    source.write_text("".join(json.dumps(row) + "\n" for row in items(400)))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    command = [sys.executable, str(driver), cluster.scheduler.address, str(source), str(output)]
    command.append(base_url)
    with (tmp_path / "first.log").open("w") as first_log:
        first = subprocess.Popen(command, stdout=first_log, stderr=first_log)
        while len(read_index(output).outcomes) < 60:
            assert first.poll() is None, "the job ended before it was killed"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
    wait_until_quiet(log)  # partitions already running finish on the workers
    finished = read_index(output).finished()
    assert 60 <= len(finished) < 400
    second = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout.splitlines()[-1])["rows"] <= 400 - len(finished)
    rows = read_results(output).compute()
    assert sorted(row["custom_id"] for row in rows) == sorted(r["custom_id"] for r in items(400))
    assert all(row["response"] is not None for row in rows)
    sent = sent_questions(log)
    for custom_id in finished:  # finished before the rerun: paid once, never sent again
        assert sent[f"question {custom_id.removeprefix('row-')}"] == 1
    assert set(sent) == {f"question {n}" for n in range(400)}
    assert sum(count - 1 for count in sent.values()) <= 2 * 8


def test_output_needs_unique_ids_and_redoes_transient_failures(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    import dask.bag

    from vertexchat._shards import Journal
    from vertexchat.dask import complete, read_results

    base_url = emulator("--no-auth")
    recipe = ClientRecipe(base_url=base_url, auth="none")
    twice = dask.bag.from_sequence([*items(3), items(2)[1]], npartitions=2)
    with pytest.raises(ValueError, match="duplicate custom_id 'row-1'"):
        complete(twice, recipe, output=tmp_path / "out")
    output = tmp_path / "results"
    journal = Journal(output)
    overloaded = {"type": "RateLimitError", "message": "m", "status_code": 429}
    journal.write({"custom_id": "row-0", "error": {**overloaded, "kind": "transient"}})
    rejected = {"type": "BadRequestError", "message": "m", "status_code": 400}
    journal.write({"custom_id": "row-1", "error": {**rejected, "kind": "permanent"}})
    journal.close()
    rows = complete(dask.bag.from_sequence(items(3), npartitions=2), recipe, output=output)
    assert sorted(row["custom_id"] for row in rows.compute()) == ["row-0", "row-2"]
    final = {row["custom_id"]: row for row in read_results(output).compute()}
    assert sorted(final) == ["row-0", "row-1", "row-2"]  # row-0 twice on disk: read once
    assert final["row-0"]["response"] is not None
    assert final["row-1"]["status_code"] == 400
