"""Bad arguments get messages naming the field; secrets never leave in errors, answers or logs."""

import logging

import pytest
from mcp import Client
from mcp.server.mcpserver.exceptions import ToolError

from skilldeck.server.app import build_server
from skilldeck.server.errors import redact, request_error, tool_errors
from skilldeck.server.settings import Settings
from tests.fixtures.skill_factory import basic_collection, make_skill
from tests.server.mcp_client import connect, text_of

pytestmark = pytest.mark.anyio

CANARY = "canary-7f3a9c1e5b2d4"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def skills_dir(tmp_path):
    return basic_collection(tmp_path / "skills")


def server(skills_dir, **settings):
    return build_server(Settings(watch=False, user_skills=False, bundled_skills=False, skills=[skills_dir],
                                 **settings))


async def test_wrong_type_names_the_field_and_the_problem(skills_dir, tmp_path):
    async with connect("--skills", str(skills_dir), "--no-user-skills", "--no-bundled-skills", "--no-watch",
                       cwd=tmp_path) as (session, _):
        wrong = await session.call_tool("read_skill_file", {"name": "pdf-forms", "path": "SKILL.md",
                                                            "start_line": "first"})
        assert wrong.is_error
        text = text_of(wrong)
        assert "Invalid arguments for read_skill_file" in text and "start_line" in text and "integer" in text
        missing = await session.call_tool("use_skill", {})
        assert missing.is_error and "name: Field required" in text_of(missing)


async def test_nul_byte_and_huge_string_name_the_field(skills_dir, tmp_path):
    async with connect("--skills", str(skills_dir), "--no-user-skills", "--no-bundled-skills", "--no-watch",
                       cwd=tmp_path) as (session, _):
        nul = await session.call_tool("read_skill_file", {"name": "pdf-forms", "path": "SKILL\x00.md"})
        assert nul.is_error and "'path'" in text_of(nul) and "NUL byte" in text_of(nul)
        huge = await session.call_tool("use_skill", {"name": "x" * 100_000})
        assert huge.is_error and "'name'" in text_of(huge) and "100,000 characters" in text_of(huge)
        assert len(text_of(huge)) < 1000
        # find_skills declares its own max_length: validation names the field
        long_task = await session.call_tool("find_skills", {"task": "y" * 5000})
        assert long_task.is_error and "task" in text_of(long_task) and "4000" in text_of(long_task)
        assert not (await session.call_tool("use_skill", {"name": "pdf-forms"})).is_error


async def test_canary_secret_is_redacted_from_errors_over_stdio(skills_dir, tmp_path):
    env = {"SKILLDECK_CANARY_API_KEY": CANARY}
    async with connect("--skills", str(skills_dir), "--no-user-skills", "--no-bundled-skills", "--no-watch",
                       cwd=tmp_path, env=env) as (session, _):
        result = await session.call_tool("use_skill", {"name": f"pdf {CANARY}"})
        assert result.is_error and CANARY not in text_of(result) and "[redacted]" in text_of(result)


async def test_canary_secret_is_redacted_from_answers_and_log_lines(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("MY_SERVICE_TOKEN", CANARY)
    root = tmp_path / "skills"
    make_skill(root, "leaky", "name: leaky\ndescription: Holds a secret by mistake.", body=f"# Leaky\n\nkey {CANARY}\n")
    async with Client(server(root)) as client:
        used = await client.call_tool("use_skill", {"name": "leaky"})
        assert not used.is_error and CANARY not in text_of(used) and "key [redacted]" in text_of(used)
    with caplog.at_level(logging.INFO):
        logging.getLogger("skilldeck").warning("token is %s", CANARY)
        try:
            raise RuntimeError(f"failed with {CANARY}")
        except RuntimeError:
            logging.getLogger("some.library").exception("crash")
    assert CANARY not in caplog.text and "token is [redacted]" in caplog.text and "failed with [redacted]" in caplog.text


def test_redact_only_touches_secret_looking_names_with_long_values(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abcdefgh12345")
    monkeypatch.setenv("DB_PASSWORD", "short")  # under 8 characters: too common a string to replace
    monkeypatch.setenv("SKILLDECK_PAGE_TITLE", "sk-abcdefgh12345-not-secret-name")
    assert redact("key sk-abcdefgh12345 pw short") == "key [redacted] pw short"


def test_tool_errors_redact_engine_messages(monkeypatch):
    monkeypatch.setenv("APP_SECRET_VALUE", CANARY)
    with pytest.raises(ToolError) as info:
        with tool_errors():
            raise ValueError(f"bad value {CANARY}")
    assert str(info.value) == "ValueError: bad value [redacted]"


def test_a_protocol_request_s_error_is_invalid_params_redacted_and_cut_short(monkeypatch):
    monkeypatch.setenv("APP_SECRET_VALUE", CANARY)
    err = request_error(f"No skill is served at {CANARY}{'x' * 5000}", {"uri": f"skill://{CANARY}"})
    assert err.error.code == -32602
    assert CANARY not in err.error.message and "[redacted]" in err.error.message
    assert len(err.error.message) < 1100 and "characters)" in err.error.message
    assert err.error.data == {"uri": "skill://[redacted]"}


def test_an_engine_model_s_validation_error_names_the_field_without_pydantic_s_dump():
    from pydantic import BaseModel, Field

    class Request(BaseModel):
        model_params_b: float = Field(le=1000)

    with pytest.raises(ToolError) as info:
        with tool_errors():
            Request(model_params_b=1e308)
    assert str(info.value) == "Invalid input: model_params_b: Input should be less than or equal to 1000."


def test_redact_also_hides_a_secret_as_used_stripped_and_as_a_message_quotes_it(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abcdefgh12345\r")
    assert redact("Bearer sk-abcdefgh12345") == "Bearer [redacted]"
    assert redact(r"Illegal header value b'Bearer sk-abcdefgh12345\r'") == "Illegal header value b'Bearer [redacted]'"


def test_clients_get_the_log_line_but_never_the_server_s_traceback(monkeypatch):
    """With a secret in the environment, redaction folds a traceback into the message; the client log sent it on."""
    from skilldeck.server.client_features import ClientLog
    from skilldeck.server.errors import install_log_redaction

    class NoSessions:
        def sessions(self):
            return []

    monkeypatch.setenv("MY_SERVICE_TOKEN", CANARY)
    install_log_redaction()
    log = ClientLog(NoSessions())
    log.install()
    try:
        try:
            raise ValueError(f"bad {CANARY}")
        except ValueError:
            logging.getLogger("skilldeck.tools.skills.watch").exception("reloading skills after a change failed")
    finally:
        log.uninstall()
    level, _, text = log.recent[-1]
    assert level == logging.ERROR and text == "reloading skills after a change failed"



def test_an_os_error_names_the_file_and_the_reason_never_the_whole_path(tmp_path):
    """`write_splits_to="a"*300` answered "OSError: [Errno 36] File name too long: '/tmp/.../aaa...'"."""
    with pytest.raises(ToolError) as caught, tool_errors():
        open(tmp_path / ("a" * 300), "w")
    text = str(caught.value)
    assert "File name too long" in text and str(tmp_path) not in text and "Errno" not in text
    assert len(text) < 200
    (tmp_path / "f").write_text("")
    with pytest.raises(ToolError, match=r"^Cannot use 'x': Not a directory\.$"), tool_errors():
        open(tmp_path / "f" / "x")


def test_a_configured_secret_is_redacted_as_repr_quotes_it_too():
    from skilldeck.server.errors import add_secret, redact

    token = "tok-abc\\def'ghi\"jkl"
    add_secret(token)
    assert "ghi" not in redact(f"bad token {token!r}") and "ghi" not in redact(f"bad token {token}")
