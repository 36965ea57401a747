"""vertexchat on Ray Data: a local cluster, the emulator as a subprocess, real datasets.

Run with ``uv sync --extra ray && uv run pytest -m ray``. One cluster for the module (Ray
starts slowly), few dataset runs, a few hundred rows each. Ray is imported inside the tests,
so the default run (``-m "not ray"``) collects this file without the extra installed.
"""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import threading
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import vertexchat
from tests._engine_support import sent_questions, wait_for, wait_until_quiet
from tests._ray_support import Emulator, cluster, emulator
from vertexchat._rows import ClientRecipe

__all__ = ["cluster", "emulator"]  # fixtures, imported for pytest


pytestmark = [
    pytest.mark.ray,
    # Ray Data sets its own deprecated DataContext fields while it copies the context.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
]

MODEL = "google/gemini-2.5-flash"
QUICK_RETRIES = vertexchat.RetryPolicy(max_attempts=10, initial_delay=0.01, max_delay=0.1)


def request(n: int, **extra: Any) -> str:
    messages = [{"role": "user", "content": f"question {n}"}]
    return json.dumps({"model": MODEL, "messages": messages, **extra})


def dataset(ray: Any, ids: list[str], requests: list[str]) -> Any:
    rows = [{"custom_id": i, "request": r} for i, r in zip(ids, requests, strict=True)]
    return ray.data.from_items(rows)


def test_mixed_faults_lose_nothing_duplicate_nothing_and_errors_are_rows(
    cluster: Any, emulator: Emulator
) -> None:
    from vertexchat.ray import complete

    base_url = emulator("--no-auth", "--fault-rate", "0.2", *_faults("429", "500", "503", "reset"))
    ids = [f"row-{n}" for n in range(1000)]
    requests = [request(n) for n in range(1000)]
    requests[10] = "{broken"
    requests[20] = request(20, extra_headers={"x-emulator-fault": "400"})
    recipe = ClientRecipe(base_url=base_url, auth="none", retry_policy=QUICK_RETRIES)
    rows = complete(dataset(cluster, ids, requests), recipe, actors=2, batch_size=200).take_all()
    assert Counter(row["custom_id"] for row in rows) == Counter(ids)  # 0 lost, 0 duplicated
    by_id = {row["custom_id"]: row for row in rows}
    assert by_id["row-10"]["error_type"] == "InvalidRequestError"
    assert by_id["row-10"]["attempts"] == 0
    assert by_id["row-20"]["error_type"] == "BadRequestError"
    assert by_id["row-20"]["status_code"] == 400
    answered = [row for row in rows if row["custom_id"] not in ("row-10", "row-20")]
    assert all(row["response"] is not None for row in answered)
    assert sum(row["attempts"] > 1 for row in answered) > 50  # ≈20 % needed a retry
    assert all(json.loads(row["response"])["usage"]["total_tokens"] > 0 for row in answered)


def _faults(*kinds: str) -> list[str]:
    return [option for kind in kinds for option in ("--fault", kind)]


def test_a_rejected_token_stops_the_job_with_one_clear_error(
    cluster: Any, emulator: Emulator
) -> None:
    from vertexchat.ray import JobStoppedError, complete, stopping_error

    base_url = emulator("--token", "right-token")
    recipe = ClientRecipe(base_url=base_url, auth="token", token="wrong-token-123")
    ids = [f"row-{n}" for n in range(200)]
    results = complete(dataset(cluster, ids, [request(n) for n in range(200)]), recipe)
    with pytest.raises(JobStoppedError) as caught:
        results.take_all()
    stop = stopping_error(caught.value)
    assert stop is not None
    assert stop.error_type == "AuthenticationError"
    assert stop.status_code == 401
    assert "HTTP 401" in str(stop)
    assert "wrong-token-123" not in str(caught.value)


def test_a_shared_quota_keeps_429s_below_independent_actors(
    cluster: Any, emulator: Emulator
) -> None:
    from vertexchat.ray import complete

    base_url = emulator("--no-auth", "--max-concurrency", "8", "--latency", "0.05")
    ids = [f"row-{n}" for n in range(600)]
    requests = [request(n) for n in range(600)]

    def throttled(quota: str, job_concurrency: int) -> int:
        recipe = ClientRecipe(
            base_url=base_url,
            auth="none",
            retry_policy=QUICK_RETRIES,
            max_concurrency=job_concurrency,
        )
        rows = complete(
            dataset(cluster, ids, requests), recipe, actors=2, quota=quota, batch_size=300
        ).take_all()
        assert Counter(row["custom_id"] for row in rows) == Counter(ids)
        assert all(row["response"] is not None for row in rows)
        return sum(row["attempts"] - 1 for row in rows)  # every extra attempt followed a 429

    # The server takes 8 calls at once and the job's quota is 8. Actors that each believe they
    # own a quota of 16 overrun it from their first calls, whatever the scheduling; actors that
    # share the job's quota (split evenly, or leased from one coordinator) stay within it.
    # (Adaptive back-off alone is timing-dependent; the benchmark measures it.)
    independent = throttled("split", 2 * 16)
    split = throttled("split", 8)
    leased = throttled("lease", 8)
    assert independent > 0
    assert split < independent
    assert leased < independent


def test_cli_on_ray_is_exactly_once_after_a_kill_and_rerun(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    base_url = emulator("--no-auth", "--latency", "0.02")
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [f'{{"custom_id": "id-{n}", "body": {request(n)}}}' for n in range(800)]
    source.write_text("\n".join(lines) + "\n")
    address = cluster.get_runtime_context().gcs_address
    command = [
        sys.executable, "-m", "vertexchat", "batch", str(source), "-o", str(output),
        "--base-url", base_url, "--no-auth", "--engine", "ray", "--ray-address", address,
        "--concurrency", "8", "--ray-batch-size", "50",
    ]  # fmt: skip
    with (tmp_path / "first.log").open("w") as log:
        first = subprocess.Popen(command, stderr=log)
        wait_for(lambda: _lines(output) >= 100, first)
        first.send_signal(signal.SIGKILL)
        first.wait()
    written = output.read_text(encoding="utf-8").count("\n")
    assert 100 <= written < 800
    summary = tmp_path / "summary.json"
    second = subprocess.run(
        [*command, "--summary-json", str(summary)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert "resuming" in second.stderr
    totals = json.loads(summary.read_text())
    assert totals["skipped"] == written  # finished ids were never sent again
    assert totals["done"] == 800 - written
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert Counter(record["custom_id"] for record in records) == Counter(
        f"id-{n}" for n in range(800)
    )
    assert all("response" in record for record in records)
    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0
    assert "nothing to do" in again.stderr


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_the_batcher_closes_its_client_on_the_loop_it_ran_on(emulator: Emulator) -> None:
    import asyncio

    import pyarrow as pa

    from vertexchat.ray import ChatCompletions

    base_url = emulator("--no-auth")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()  # Ray Data runs async batches on an event loop in a thread of the actor
    batcher = ChatCompletions(ClientRecipe(base_url=base_url, auth="none"), concurrency=4)
    batch = pa.table({"custom_id": ["a", "b"], "request": [request(1), request(2)]})
    result = asyncio.run_coroutine_threadsafe(batcher(batch), loop).result(timeout=60)
    assert result.column("custom_id").to_pylist() == ["a", "b"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        del batcher  # what Ray Data does when the actor exits
        gc.collect()
    assert not [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def test_the_batcher_marks_its_client_closed_when_its_loop_is_gone(emulator: Emulator) -> None:
    import asyncio

    import pyarrow as pa

    from vertexchat.ray import ChatCompletions

    base_url = emulator("--no-auth")
    batcher = ChatCompletions(ClientRecipe(base_url=base_url, auth="none"), concurrency=4)
    batch = pa.table({"custom_id": ["a"], "request": [request(1)]})
    loop = asyncio.new_event_loop()
    loop.run_until_complete(batcher(batch))
    loop.close()  # as at interpreter exit: the loop the client connected on no longer runs
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        del batcher
        gc.collect()
    messages = [str(w.message) for w in seen]
    assert not [m for m in messages if "Client was not closed" in m]
    # Client.close() leaves the dead loop's sockets to their finalizers, which do warn.


DRIVER = """
import json, os, sys
os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
import ray
import vertexchat.ray
from vertexchat.ray import ClientRecipe

address, source, output, base_url = sys.argv[1:5]
ray.init(address=address, logging_level="WARNING")
ray.data.DataContext.get_current().enable_progress_bars = False
requests = ray.data.read_json(source)
recipe = ClientRecipe(base_url=base_url, auth="none", max_concurrency=8)
print(json.dumps(vertexchat.ray.run(requests, recipe, output, actors=2, batch_size=40)))
"""


def test_a_killed_dataset_job_rerun_sends_no_finished_id_again_and_reads_once(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    from vertexchat._shards import read_index
    from vertexchat.ray import pending, read_results

    log = tmp_path / "requests.log"
    base_url = emulator("--no-auth", "--latency", "0.05", "--request-log", str(log))
    source, output = tmp_path / "requests.jsonl", tmp_path / "results"
    rows = [{"custom_id": f"id-{n}", "request": request(n)} for n in range(600)]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    command = [sys.executable, str(driver), cluster.get_runtime_context().gcs_address]
    command += [str(source), str(output), base_url]
    with (tmp_path / "first.log").open("w") as first_log:
        first = subprocess.Popen(command, stdout=first_log, stderr=first_log)
        wait_for(lambda: len(read_index(output).finished()) >= 100, first)
        first.send_signal(signal.SIGKILL)
        first.wait()
    wait_until_quiet(log)  # the dead driver's actors run on until Ray reaps them
    finished = read_index(output).finished()
    assert 100 <= len(finished) < 600
    second = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert second.returncode == 0, second.stderr
    totals = json.loads(second.stdout.splitlines()[-1])
    assert 0 < totals["rows"] <= 600 - len(finished)  # the rerun wrote only what was missing
    results = read_results(output).take_all()
    assert Counter(row["custom_id"] for row in results) == Counter(r["custom_id"] for r in rows)
    assert all(row["response"] is not None for row in results)
    assert all(row["total_tokens"] > 0 and row["attempts"] is None for row in results)
    sent = sent_questions(log)
    for custom_id in finished:  # finished before the rerun: paid once, never sent again
        assert sent[f"question {custom_id.removeprefix('id-')}"] == 1
    assert set(sent) == {f"question {n}" for n in range(600)}
    resent = sum(count - 1 for count in sent.values())
    # Only calls whose rows were not written when the actors died are made again: those in
    # flight (the job's concurrency, 8) and answers an actor had not yet written down.
    assert resent <= 2 * 8
    assert pending(cluster.data.read_json(source), output).count() == 0  # a rerun sends nothing


def test_pending_refuses_duplicate_ids_and_read_results_keeps_the_best_row(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    from vertexchat._jsonl import error_line
    from vertexchat._shards import Journal
    from vertexchat.ray import pending, read_results, run

    requests = dataset(cluster, ["a", "b", "a"], [request(1), request(2), request(3)])
    with pytest.raises(ValueError, match="duplicate custom_id 'a'"):
        pending(requests, tmp_path / "out")
    output = tmp_path / "results"
    overloaded = {"type": "RateLimitError", "message": "quota", "status_code": 429}
    throttled = {"custom_id": "x", "error": {**overloaded, "kind": "transient"}}
    journal = Journal(output)
    journal.write(throttled)
    journal.write(error_line("y", "request: bad"))
    journal.close()
    base_url = emulator("--no-auth")
    fresh = dataset(cluster, ["x", "y", "z"], [request(1), request(2), request(3)])
    todo = pending(fresh, output).take_all()
    assert sorted(row["custom_id"] for row in todo) == ["x", "z"]  # transient redone
    everything = pending(fresh, output, retry_failed=True).take_all()
    assert sorted(row["custom_id"] for row in everything) == ["x", "y", "z"]
    recipe = ClientRecipe(base_url=base_url, auth="none")
    assert run(fresh, recipe, output, actors=1) == {"rows": 2, "ok": 2, "failed": 0}
    rows = {row["custom_id"]: row for row in read_results(output).take_all()}
    assert sorted(rows) == ["x", "y", "z"]  # x twice on disk (429, then an answer): read once
    assert rows["x"]["response"] is not None
    assert rows["y"]["error_type"] == "InvalidRequestError"


def test_an_actor_class_of_the_batcher_exits_without_a_traceback(
    cluster: Any, emulator: Emulator, tmp_path: Path
) -> None:
    # ray.remote(ChatCompletions) builds an ActorClass from the class without running its
    # __init__; its __del__ once failed at exit ("Exception ignored ... no attribute").
    base_url = emulator("--no-auth")
    script = tmp_path / "actor.py"
    script.write_text(
        "import os, sys\n"
        "os.environ['RAY_ENABLE_UV_RUN_RUNTIME_ENV'] = '0'\n"
        "import pyarrow as pa, ray\n"
        "from vertexchat.ray import ChatCompletions, ClientRecipe\n"
        "ray.init(address=sys.argv[1], logging_level='ERROR')\n"
        "recipe = ClientRecipe(base_url=sys.argv[2], auth='none')\n"
        "actor = ray.remote(ChatCompletions).remote(recipe)\n"
        f"batch = pa.table({{'custom_id': ['a'], 'request': [{request(1)!r}]}})\n"
        "print(ray.get(actor.__call__.remote(batch)).column('response').null_count)\n"
    )
    address = cluster.get_runtime_context().gcs_address
    done = subprocess.run(
        [sys.executable, str(script), address, base_url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0"]  # the row was answered
    assert "Exception ignored" not in done.stderr
    assert "Traceback" not in done.stderr
