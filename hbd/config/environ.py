"""The environment heartbeat gives resource scripts, from the configuration (pure)."""

from __future__ import annotations

from hbd.config.model import ClusterConfig

SCRIPT_ENV_KEYS = {"logfacility": "HA_LOGFACILITY", "logfile": "HA_LOGFILE",
                   "debugfile": "HA_DEBUGLOG"}


def script_env(config: ClusterConfig) -> dict[str, str]:
    env = {"HA_D": config.config_dir, "HA_DIR": config.config_dir,
           "HA_RCDIR": config.config_dir.rstrip("/") + "/rc.d",
           "HA_CURHOST": config.node_name}
    for attr, key in SCRIPT_ENV_KEYS.items():
        value = getattr(config.hacf, attr)
        if value:
            env[key] = value
    for name, value in config.hacf.env:           # ha.cf `env NAME=value`, as heartbeat
        env[f"HA_{name}"] = value
    return env
