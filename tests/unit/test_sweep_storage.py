"""Database URLs of ``minifc sweep --storage``: the PostgreSQL driver named when the URL names none."""

from __future__ import annotations

import importlib.util

import pytest

from minifc.sweeps.storage import shown_url, with_driver

URL = "postgresql://postgres:secret@db.example:5432/studies"


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        ({"psycopg2"}, "postgresql+psycopg2://postgres:secret@db.example:5432/studies"),  # minifc[postgres]
        ({"psycopg", "psycopg2"}, URL),  # SQLAlchemy's own choice for a bare postgresql://: psycopg 3
        (set(), URL),  # no driver: opening it says what to pip install
    ],
)
def test_a_bare_postgresql_url_uses_the_driver_that_is_installed(installed, expected, monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name in ("psycopg", "psycopg2"):
            return real("json") if name in installed else None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert with_driver(URL) == expected
    assert with_driver("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"  # a named driver is kept
    assert with_driver("mysql+pymysql://u@h/d") == "mysql+pymysql://u@h/d"


def test_a_shown_url_hides_the_password():
    assert shown_url(URL) == "postgresql://postgres:***@db.example:5432/studies"
