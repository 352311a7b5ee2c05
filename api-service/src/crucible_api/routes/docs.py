"""The API's documentation page, Swagger UI, served whole by the API itself.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline
script; Crucible runs on machines with no outside network, and its front door
allows scripts from its own origin only. So the assets come from a packaged
copy (swagger-ui-bundle-v2) under /api/docs/static, and the page is started
by a script of its own, swagger_init.js beside this module.
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/api/docs"
STATIC_URL = f"{DOCS_URL}/static"
_INIT_SCRIPT = Path(__file__).with_name("swagger_init.js")

router = APIRouter(include_in_schema=False)


@router.get(DOCS_URL)
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Crucible API</title>
<link rel="stylesheet" href="{STATIC_URL}/swagger-ui.css">
<link rel="icon" type="image/png" href="{STATIC_URL}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{STATIC_URL}/swagger-ui-bundle.js"></script>
<script src="{DOCS_URL}/init.js"></script>
</body>
</html>
"""
    )


@router.get(f"{DOCS_URL}/init.js")
def swagger_init() -> FileResponse:
    return FileResponse(_INIT_SCRIPT, media_type="text/javascript")


def add_docs(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_URL, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
