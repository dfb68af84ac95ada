"""Streamlit's upload endpoint (`PUT /_stcore/upload_file/<session id>/<file id>`) is open to any websocket session,
logged in or not, and keeps every file in the server's memory until the session is shut down — which a session
that disconnects and is never resumed may never be (its entry just expires from the reconnect cache). Four 50 MB
uploads from an anonymous session added 205 MB to the server, kept after disconnect.

Installed once per server process (imported by dashboard/app.py):

- the endpoint accepts a file only for a session logged in with a role that may upload (UPLOAD_ROLES, re-read from
  the user store): the upload route's session check (`Runtime.is_active_session`, which only that route calls)
  answers "no" for any other session, so it gets 400 before a byte of the body is read; the file manager refuses
  such a file as well (a second lock, should a Streamlit version skip the check);
- the size limit: `server.maxUploadSize` is 0 in .streamlit/config.toml (nothing is accepted before the guard is
  in place, e.g. from a session that connected but never ran the script), and the guard sets it to
  `[dashboard] upload_max_mb` of config.toml (50 MB: what the upload page needs) when it is installed;
- every SWEEP_SECONDS a sweeper frees the uploads of sessions that are no longer connected.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from dashboard import auth
from dashboard.users import ADMIN, TOWNSHIP

# The roles whose pages take uploads: those with the 数据上传 page (dashboard/auth.py PAGES, dashboard/upload.py);
# a 乡镇用户's upload lands their own 乡镇's rows only (etl/scope.py).
UPLOAD_ROLES = (ADMIN, TOWNSHIP)
SWEEP_SECONDS = float(os.environ.get("GRIDWATCH_UPLOAD_SWEEP_SECONDS", "30"))  # tests shorten it

_LOG = logging.getLogger("gridwatch.uploads")
_INSTALLED = False
_LOCK = threading.Lock()


def may_upload(streamlit_session_id: str) -> bool:
    """Whether this Streamlit session is logged in (a user, not a display) with a role that may upload, as the
    user store says now (disabled users and changed roles count at once)."""
    sessions = getattr(auth, "_SESSIONS", None)  # the login records of this process (none found: no upload)
    if not isinstance(sessions, dict):
        return False
    with getattr(auth, "_LOCK", _LOCK):
        recs = [r for r in sessions.values() if getattr(r, "streamlit_id", None) == streamlit_session_id]
    for rec in recs:
        if getattr(rec, "kind", None) != "user":
            continue
        a = auth.settings().auth
        now = time.time()
        if now - rec.last_seen > a.idle_minutes * 60 or now - rec.started > a.max_session_hours * 3600:
            continue
        user = auth.store().get_user(rec.name)
        if user is not None and not user.disabled and user.role in UPLOAD_ROLES:
            return True
    return False


def sweep(runtime) -> int:
    """Free the uploads of every session that is not connected now; returns the bytes freed."""
    mgr = runtime.uploaded_file_mgr
    storage = getattr(mgr, "file_storage", None)
    if storage is None:
        return 0
    freed = 0
    for sid in list(storage):
        if not runtime._session_mgr.is_active_session(sid):  # noqa: SLF001 — the runtime's own session list
            with mgr._lock:  # noqa: SLF001
                freed += sum(len(f.data) for f in storage.get(sid, {}).values())
            mgr.remove_session_files(sid)
    if freed:
        _LOG.warning("uploads: freed %d bytes left by sessions that are gone", freed)
    return freed


def _sweeper(runtime) -> None:
    while True:
        time.sleep(SWEEP_SECONDS)
        try:
            sweep(runtime)
        except Exception:  # noqa: BLE001 — never let the sweeper die
            _LOG.exception("uploads: sweep failed")


def _max_mb():
    from streamlit import config as st_config

    return st_config.get_option("server.maxUploadSize")


def install() -> bool:
    """Guard the upload endpoint of the running server (once per process); False without a server (AppTest)."""
    global _INSTALLED
    from streamlit import runtime as st_runtime

    if not st_runtime.exists():
        return False
    with _LOCK:
        if _INSTALLED:
            return True
        rt = st_runtime.get_instance()
        active = rt.is_active_session

        def is_active_session(session_id: str) -> bool:
            if not active(session_id):
                return False
            if may_upload(session_id):
                return True
            _LOG.warning("uploads: refused an upload from a session without an upload role")
            return False

        rt.is_active_session = is_active_session  # only the upload route asks the runtime this
        mgr = rt.uploaded_file_mgr
        add_file = mgr.add_file

        def guarded_add_file(session_id, file):
            if not may_upload(session_id):
                raise PermissionError("upload refused: the session may not upload")
            return add_file(session_id=session_id, file=file)

        mgr.add_file = guarded_add_file
        threading.Thread(target=_sweeper, args=(rt,), name="gw-upload-sweeper", daemon=True).start()
        from streamlit import config as st_config

        st_config.set_option("server.maxUploadSize", auth.settings().dashboard.upload_max_mb)
        _INSTALLED = True
        _LOG.warning("uploads: guard installed, limit %s MB, roles %s", _max_mb(), "、".join(UPLOAD_ROLES))
        return True


install()
