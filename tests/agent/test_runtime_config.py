"""The resident service runs without pydantic, on a configuration reader kept in step with
wire.AgentConfig (agent runtime: memory)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict

from agent.runtime.config import RuntimeConfig
from agent.runtime.shipper import config_etag_of
from wire import AgentConfig, config_etag


def test_defaults_match_the_wire_model() -> None:
    ours = asdict(RuntimeConfig())
    ours["sections"] = list(ours["sections"])
    assert ours == AgentConfig().model_dump(mode="json")


def test_served_configs_are_read_and_bad_values_fall_back() -> None:
    served = AgentConfig(sections=["os"], section_intervals={"os": 60}, heartbeat_seconds=600).model_dump(
        mode="json"
    )
    config = RuntimeConfig.from_dict(served)
    assert config.sections == ("os",) and config.interval("os") == 60 and config.heartbeat_seconds == 600
    broken = RuntimeConfig.from_dict({"heartbeat_seconds": "soon", "jitter_seconds": -5, "sections": [1]})
    assert broken == RuntimeConfig()
    assert config_etag_of(served) == config_etag(AgentConfig.model_validate(served))


def test_the_resident_modules_do_not_import_pydantic() -> None:
    code = (
        "import sys, agent.runtime.service, agent.runtime.shipper, agent.runtime.spool, agent.transport, "
        "agent.cli; sys.exit('pydantic' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60, check=False).returncode == 0
