"""fastcolor studio: a web page where a colorist colors a page by clicking, served by
``fastcolor serve`` (FastAPI + uvicorn; ``pip install 'fastcolor[studio]'``).

::

    from fastcolor.studio import create_app
    app = create_app(pipeline)          # an ASGI app: uvicorn.run(app, host="127.0.0.1")
"""

from .app import create_app
from .store import ResultStore, StoredResult

__all__ = ["ResultStore", "StoredResult", "create_app"]
