"""deploy/compose.yaml and its nginx.conf hang together: the replicas share the database, the data volume
and the rate-limit storage, and the balancer sends HTTP and WebSockets to every replica.
(Checked against the compose-spec JSON schema by hand, see the README; docker does not run here.)"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from tts_server.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_compose_runs_replicas_on_one_database_volume_and_limit_storage() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    tts = services["tts"]
    env = tts["environment"]
    assert set(env) <= {f"TTS_{name.upper()}" for name in Settings.model_fields}  # no misspelt setting
    assert urlsplit(env["TTS_DATABASE_URL"]).hostname == "postgres" and "postgres" in services
    assert urlsplit(env["TTS_RATE_LIMIT_STORAGE"]).hostname == "redis" and "redis" in services
    assert tts["deploy"]["replicas"] >= 2
    assert f"tts-data:{env['TTS_DATA_DIR']}" in tts["volumes"] and "tts-data" in compose["volumes"]
    assert tts["build"]["args"]["EXTRAS"] == "postgres"
    assert tts["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["balancer"]["volumes"] == ["./nginx.conf:/etc/nginx/conf.d/default.conf:ro"]


def test_the_balancer_reaches_every_replica_with_websockets_and_streaming() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    assert "server tts:7860 resolve;" in conf and "proxy_pass http://tts_replicas;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf and "proxy_buffering off;" in conf
    # the replicas trust X-Forwarded-For from any peer: nginx must overwrite it, never append to it
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf and "$proxy_add_x_forwarded_for" not in conf
    assert conf.count("{") == conf.count("}")
