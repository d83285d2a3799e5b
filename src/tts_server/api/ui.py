"""The playground page: GET / serves it, /ui/ serves its static files (shipped in the package's web/).

The page itself needs no API key (it holds no data); it asks the user for one when the API answers 401.
None of these routes appear in the OpenAPI schema.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

from tts_server.api.routes import ApiRoute

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

router = APIRouter(include_in_schema=False, route_class=ApiRoute)


@router.api_route("/", methods=["GET", "HEAD"])
async def playground() -> FileResponse:
    """The playground page: try voices, formats and streaming from a browser."""
    return FileResponse(WEB_DIR / "index.html", media_type="text/html")


def install_playground(app: FastAPI) -> None:
    """Serve the page at / and its files under /ui/ (mounts cannot travel through include_router)."""
    app.include_router(router)
    app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")
