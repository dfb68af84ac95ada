"""Chinese map datums: WGS84 ↔ GCJ02 ↔ BD09, vectorised with numpy.

GCJ02 (国测局坐标, "Mars coordinates") is WGS84 plus a published, smooth, non-linear offset of a few hundred
metres; BD09 (Baidu) is a further offset of GCJ02. Only the forward directions are closed-form. The usual
"inverse" (subtract the offset computed at the shifted point) leaves errors of 1–2 m; here the inverse is solved
by fixed-point iteration on the forward function until the round trip is below 1e-9 degrees (~0.1 mm).

Outside mainland China the GCJ02 offset is not applied (the same rule the encrypting side uses).
"""
from __future__ import annotations

import numpy as np

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def out_of_china(lon, lat):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _offsets(x, y):
    """The published GCJ02 offset polynomials (metres-like units) at x = lon − 105, y = lat − 35; the terms the
    two share are computed once."""
    shared = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    xy = 0.1 * x * y
    sqx = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + xy + 0.2 * sqx + shared
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + xy + 0.1 * sqx + shared
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return dlat, dlon


def wgs84_to_gcj02(lon, lat):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlat, dlon = _offsets(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    sin_lat = np.sin(radlat)
    magic = 1 - _EE * sin_lat * sin_lat
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def gcj02_to_bd09(lon, lat):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward, lon, lat, tol=1e-10, max_iter=30):
    """Solve forward(w) = target for w by fixed-point iteration w ← w − (forward(w) − target)."""
    tlon = np.asarray(lon, dtype=float)
    tlat = np.asarray(lat, dtype=float)
    wlon, wlat = tlon.copy(), tlat.copy()
    for _ in range(max_iter):
        flon, flat = forward(wlon, wlat)
        elon, elat = flon - tlon, flat - tlat
        wlon = wlon - elon
        wlat = wlat - elat
        err = np.nanmax(np.abs(np.concatenate([np.ravel(elon), np.ravel(elat)])), initial=0.0)
        if err < tol:
            break
    return wlon, wlat


def gcj02_to_wgs84(lon, lat):
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon, lat):
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon, lat):
    glon, glat = bd09_to_gcj02(lon, lat)
    return gcj02_to_wgs84(glon, glat)


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def to_wgs84(lon, lat, coord_sys):
    """Convert arrays of points whose datum is given per point ('WGS84', 'GCJ02', 'BD09'; None → GCJ02)."""
    lon = np.asarray(lon, dtype=float).copy()
    lat = np.asarray(lat, dtype=float).copy()
    sys_ = np.asarray(coord_sys, dtype=object)
    bd = sys_ == "BD09"
    gcj = ~bd & (sys_ != "WGS84")
    if gcj.any():
        lon[gcj], lat[gcj] = gcj02_to_wgs84(lon[gcj], lat[gcj])
    if bd.any():
        lon[bd], lat[bd] = bd09_to_wgs84(lon[bd], lat[bd])
    return lon, lat
