"""Drives `cordon serve --mcp` with the official MCP Python SDK, as an agent
framework would: one scenario per run, named by the first argument; prints
one JSON object with what it saw, for the Rust test to check.

    client.py SCENARIO CORDON ROOT CACHE_DIR
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


def server(cordon, root, cache, env=None):
    return StdioServerParameters(
        command=cordon,
        args=["serve", "--mcp", "--root", root, "--cache-dir", cache],
        env=env,
    )


def answering(answers, asked):
    """An elicitation callback: the person's answers, in order."""

    async def callback(context, params):
        asked.append(params.message)
        answer = answers.pop(0) if answers else "decline"
        if answer == "decline":
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"answer": answer})

    return callback


def processes_with(marker):
    """The processes whose command line holds `marker`."""
    found = []
    for pid in filter(str.isdigit, __import__("os").listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


async def call(session, name, arguments):
    result = await session.call_tool(name, arguments)
    return {
        "structured": result.structured_content,
        "text": [c.text for c in result.content if getattr(c, "text", None) is not None],
        "is_error": result.is_error,
    }


async def connected(cordon, root, cache, answers, asked, body):
    async with stdio_client(server(cordon, root, cache)) as (read, write):
        async with ClientSession(read, write, elicitation_callback=answering(answers, asked)) as session:
            await session.initialize()
            return await body(session)


async def over_http(cordon, root, cache):
    """Starts `cordon serve --mcp --http`, reads the address and the token
    it prints, and calls a tool with the token and without it."""
    import httpx2
    import subprocess

    server = subprocess.Popen(
        [cordon, "serve", "--mcp", "--root", root, "--cache-dir", cache, "--http", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stderr.readline()
        words = line.split()
        url, token = words[words.index("on") + 1].rstrip(","), words[-1]
        seen = {}
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as (read, write, *_):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    seen["run"] = await call(session, "run_command", {"argv": ["cat", "a.txt"]})
        async with httpx2.AsyncClient() as http:
            response = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            seen["without_token"] = response.status_code
        async with httpx2.AsyncClient(headers={"Authorization": "Bearer " + "0" * 32}) as http:
            response = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            seen["wrong_token"] = response.status_code
        return seen
    finally:
        server.terminate()
        server.wait()


async def main():
    scenario, cordon, root, cache = sys.argv[1:5]
    seen = {}
    if scenario == "tools":
        async def body(session):
            tools = (await session.list_tools()).tools
            return {
                t.name: {
                    "input": t.input_schema,
                    "output": t.output_schema,
                    "read_only": t.annotations.read_only_hint if t.annotations else None,
                    "destructive": t.annotations.destructive_hint if t.annotations else None,
                    "open_world": t.annotations.open_world_hint if t.annotations else None,
                }
                for t in tools
            }
        seen["tools"] = await connected(cordon, root, cache, [], [], body)
    elif scenario == "run":
        async def body(session):
            return {
                "builtin": await call(session, "run_command", {"argv": ["cat", "a.txt"]}),
                "native": await call(session, "run_command", {"argv": ["sh", "-c", "echo native"]}),
                "line": await call(session, "run_command", {"command": "cat a.txt | wc -l"}),
                "read": await call(session, "read_file", {"path": "a.txt"}),
                "list": await call(session, "list_directory", {"path": "."}),
                # `-` is stdin even after `--`: an empty one, never the
                # client's channel.
                "stdin": await call(session, "read_file", {"path": "-"}),
            }
        seen.update(await connected(cordon, root, cache, [], [], body))
    elif scenario == "approve":
        asked = []
        async def body(session):
            return {
                "approved": await call(session, "run_command", {"command": "rm -rf build"}),
                "declined": await call(session, "run_command", {"command": "rm -rf src"}),
            }
        seen.update(await connected(cordon, root, cache, ["once"], asked, body))
        seen["asked"] = asked
    elif scenario == "sessions":
        first, second = [], []
        async def twice(session):
            return [
                await call(session, "run_command", {"command": "rm -rf build"}),
                await call(session, "run_command", {"command": "rm -rf build"}),
            ]
        seen["first"] = await connected(cordon, root, cache, ["session"], first, twice)
        seen["second"] = await connected(cordon, root, cache, [], second, twice)
        seen["first_asked"] = len(first)
        seen["second_asked"] = len(second)
    elif scenario == "cancel":
        async def body(session):
            try:
                await session.call_tool(
                    "run_command",
                    {"command": "sleep 765.432"},
                    read_timeout_seconds=3,
                )
                return {"timed_out": False}
            except Exception as error:
                # The client cancels what timed out: nothing of it runs on.
                await asyncio.sleep(2)
                return {"timed_out": True, "error": str(error), "left": processes_with("765.432")}
        seen.update(await connected(cordon, root, cache, [], [], body))
    elif scenario == "park":
        # No form to show and no approver: the question waits for a
        # person, who answers it with `cordon approve` out of band.
        import os
        import subprocess

        config = os.path.join(os.path.dirname(root), "xdg")
        env = dict(os.environ, XDG_CONFIG_HOME=config)
        answers = os.path.join(os.path.dirname(root), "person")
        with open(answers, "w") as f:
            f.write("once\n")
        async with stdio_client(server(cordon, root, cache, env)) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                seen["parked"] = await call(session, "run_command", {"command": "rm -rf build"})
                token = seen["parked"]["structured"]["resume"]
                seen["too_soon"] = await call(session, "run_command", {"resume": token})
                seen["approve"] = subprocess.run(
                    [cordon, "approve", token, "--approver", f"script={answers}"],
                    env=env, capture_output=True, text=True,
                ).returncode
                seen["resumed"] = await call(session, "run_command", {"resume": token})
                try:
                    await call(session, "run_command", {"resume": token})
                    seen["again"] = "ran"
                except Exception as error:
                    seen["again"] = str(error)
    elif scenario == "notes":
        # Two calls at once: what cordon says of one (a program not found)
        # is not given back with the other.
        async def body(session):
            ended = []

            async def timed(name, arguments):
                result = await call(session, "run_command", arguments)
                ended.append(name)
                return result

            slow = asyncio.create_task(timed("slow", {"command": "sleep 2"}))
            await asyncio.sleep(0.5)
            missing = await timed("missing", {"argv": ["no-such-program-4711"]})
            return {"slow": await slow, "missing": missing, "ended": ended}
        seen.update(await connected(cordon, root, cache, [], [], body))
    elif scenario == "http":
        seen.update(await over_http(cordon, root, cache))
    print(json.dumps(seen))


asyncio.run(main())
