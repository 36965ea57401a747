"""``vertexchat chat`` as a subprocess: one prompt, and the REPL (history, /reset, /system),
streaming, thoughts apart on stderr."""

from __future__ import annotations

from tests._cli_support import emulator_server, run_cli


def test_repl_keeps_the_history_and_resets_it() -> None:
    script = (
        b"What is a river?\nAnd a lake?\n/reset\n/system Be brief.\nHello again\n/exit\nignored\n"
    )
    with emulator_server() as (emulator, url):
        result = run_cli(["chat", "--base-url", url, "--no-auth"], stdin=script)
        bodies = [request.body for request in emulator.requests]
    assert result.returncode == 0, result.stderr
    assert len(bodies) == 3  # /exit stops reading
    first, second, third = (body["messages"] for body in bodies)
    assert first == [{"role": "user", "content": "What is a river?"}]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"]  # the first answer went back as history
    assert second[2] == {"role": "user", "content": "And a lake?"}
    assert third == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello again"},
    ]
    assert result.stdout.decode().startswith(second[1]["content"] + "\n")
    assert all(bodies[n]["stream"] is True for n in range(3))  # streamed


def test_repl_ends_at_end_of_input_and_shows_thoughts_apart() -> None:
    with emulator_server() as (_, url):
        result = run_cli(
            ["chat", "--base-url", url, "--no-auth", "--think", "128"], stdin=b"Why?\n"
        )
    assert result.returncode == 0
    out, err = result.stdout.decode(), result.stderr.decode()
    assert "Planning the answer" in err  # the emulator's thought summary
    assert "Planning the answer" not in out
    assert "<thought>" not in out + err
    assert "\x1b[" not in err  # not a terminal: no dimming codes
    assert out.strip()
